import { Router } from 'express';
import { z } from 'zod';
import type { FollowUpService } from '../followup-service';
import { scheduleRequestsFromBody, withTraceparentHeader } from '../http-bodies';
import { MESSAGE_STATUSES, type MessageStatus } from '../outbox';
import type { ValidationOptions } from '../schedule-request';
import { cursorFor, pageQueryFields } from '../../http/pagination';
import { parseOrThrow, ProblemError } from '../../http/problem';

/** Messages per POST /v1/messages, as POST /followups (its body limit is set for this many). */
export const MAX_MESSAGES_PER_REQUEST = 10_000;

// Keyset on id: a page never shifts when messages are added or change status meanwhile.
const messagesCursor = cursorFor('messages', /^\d{1,18}$/);
export const idParam = z.string().regex(/^\d{1,18}$/, { message: 'must be a message id (digits)' });
export const listQuery = z.strictObject({
  tenantId: z.string().trim().min(1, { message: 'required' }).max(200),
  // One status or several, comma-separated: the pending list is status=scheduled,claimed,sending.
  status: z
    .string()
    .refine((value) => value.split(',').every((s) => (MESSAGE_STATUSES as readonly string[]).includes(s)), {
      message: `must be one or more of ${MESSAGE_STATUSES.join(', ')}, comma-separated`,
    })
    .transform((value) => [...new Set(value.split(','))] as MessageStatus[])
    .describe(`one or more of ${MESSAGE_STATUSES.join(', ')}, comma-separated`)
    .optional(),
  contactId: z.string().trim().min(1, { message: 'must not be empty' }).max(200).optional(),
  idempotencyKey: z.string().min(1, { message: 'must not be empty' }).max(512).optional(),
  ...pageQueryFields,
});
export const cancelBody = z.strictObject({
  tenantId: z.string().trim().min(1, { message: 'required' }).max(200),
  idempotencyKeys: z.array(z.string().min(1).max(512)).min(1).max(10_000),
});

/**
 * The outbox under /api/v1, in the data contract's conventions (camelCase, problem details,
 * cursor pagination): schedule, read one, list a tenant's (by status, contact or key), cancel by key. Errors are thrown as
 * CallerErrors and answered by the /v1 error handler. The unversioned
 * /api/followups routes stay for one release (CHANGELOG).
 */
export function messageRoutes(deps: { service: FollowUpService; validation: ValidationOptions }): Router {
  const { service } = deps;
  const router = Router();
  router.post('/v1/messages', async (req, res) => {
    const body = req.body as { messages?: unknown } | undefined;
    if (!body || typeof body !== 'object' || !Array.isArray(body.messages)) {
      throw ProblemError.invalid([{ field: 'messages', message: 'must be a list of messages' }]);
    }
    if (body.messages.length > MAX_MESSAGES_PER_REQUEST) {
      throw ProblemError.invalid([{ field: 'messages', message: `at most ${MAX_MESSAGES_PER_REQUEST} per request` }]);
    }
    const requests = withTraceparentHeader(scheduleRequestsFromBody(body, deps.validation), req.get('traceparent'));
    res.status(201).json(await service.schedule(requests));
  });

  router.get('/v1/messages', async (req, res) => {
    const query = parseOrThrow(listQuery, req.query);
    const afterId = query.cursor === undefined ? undefined : messagesCursor.decode(query.cursor)[0];
    const page = await service.listPage(query.tenantId, {
      limit: query.limit,
      ...(afterId ? { afterId } : {}),
      ...(query.status ? { statuses: query.status } : {}),
      ...(query.contactId ? { contactId: query.contactId } : {}),
      ...(query.idempotencyKey ? { idempotencyKey: query.idempotencyKey } : {}),
    });
    const last = page.items[page.items.length - 1];
    res.json({ items: page.items, nextCursor: page.more && last ? messagesCursor.encode([last.id]) : null });
  });

  router.get('/v1/messages/:id', async (req, res) => {
    const id = parseOrThrow(idParam, req.params.id, 'id');
    const message = await service.get({ id });
    if (!message) throw new ProblemError('not-found', `message ${id} not found`);
    res.json(message);
  });

  router.post('/v1/messages/cancel', async (req, res) => {
    const body = parseOrThrow(cancelBody, req.body ?? {});
    res.json({ cancelled: await service.cancel(body.idempotencyKeys, undefined, body.tenantId) });
  });

  return router;
}
