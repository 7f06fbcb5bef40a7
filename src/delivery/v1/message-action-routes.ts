import { Router } from 'express';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../../errors/caller-error';
import { parseOrThrow, ProblemError } from '../../http/problem';
import type { FollowUpService, MessageView } from '../followup-service';
import { parseHttpTime } from '../http-bodies';
import { idParam } from './message-routes';

const tenantId = z.string().trim().min(1, { message: 'required' }).max(200);
const idempotencyKey = z.string().trim().min(1, { message: 'required' }).max(512);
const nonBlankText = z
  .string()
  .max(20_000)
  .refine((value) => value.trim() !== '', { message: 'required' });

export const rescheduleBody = z.strictObject({
  tenantId,
  idempotencyKey,
  scheduledAt: z.string().describe('ISO 8601 with an offset, or a local time with timezone'),
  timezone: z.string().optional().describe('IANA zone of a scheduledAt without an offset'),
});
export const responseBody = z.strictObject({
  text: nonBlankText,
  receivedAt: z.string().optional().describe('ISO 8601 with an offset; default now'),
});
export const markSentBody = z.strictObject({ sentBy: z.string().trim().min(1, { message: 'must not be empty' }).max(200).optional() });
export const RESOLVE_OUTCOMES = ['sent', 'failed', 'resend'] as const;
export const resolveBody = z.strictObject({
  outcome: z.enum(RESOLVE_OUTCOMES, { message: 'must be sent, failed or resend' }),
});
export const REDRIVE_STATUSES = ['dead', 'failed'] as const;
export const redriveBody = z.strictObject({
  tenantId,
  ids: z.array(idParam).max(10_000).optional().describe('only these messages; default every one in the status'),
  status: z.enum(REDRIVE_STATUSES, { message: 'must be dead or failed' }).default('dead'),
});

/** A time field of a body through the one HTTP time reader, or a 400 naming it. */
function timeOrThrow(value: string, timezone: string | undefined, field: string): Date {
  const time = parseHttpTime(value, timezone, field);
  if ('issue' in time) throw ProblemError.invalid([time.issue]);
  return time.value;
}

/**
 * What a caller does to messages already scheduled, under /api/v1: move one (by its key, like
 * cancel), record a reply, mark one sent by someone else, an operator's verdict on an unknown
 * outcome, and sending dead letters again. An unknown message is a 404; a message whose status
 * does not allow the step (moving one already sent) is a 409 naming the status. Each answers the
 * message as it is afterwards. No SQL here: FollowUpService does the work.
 */
export function messageActionRoutes(deps: { service: FollowUpService }): Router {
  const { service } = deps;
  const router = Router();
  const messageOr404 = async (id: string): Promise<MessageView> => {
    const message = await service.get({ id });
    if (!message) throw new NotFoundError(`message ${id} not found`);
    return message;
  };
  const refused = (message: MessageView, step: string, allowed: string) =>
    new ConflictError(`message ${message.id} is ${message.status}: only ${allowed} messages can be ${step}`, [
      { field: 'status', message: `is ${message.status}` },
    ]);

  router.post('/v1/messages/reschedule', async (req, res) => {
    const body = parseOrThrow(rescheduleBody, req.body ?? {});
    const scheduledAt = timeOrThrow(body.scheduledAt, body.timezone, 'scheduledAt');
    const moved = await service.reschedule(body.idempotencyKey, scheduledAt, undefined, body.tenantId);
    const message = await service.get({ idempotencyKey: body.idempotencyKey, tenantId: body.tenantId });
    if (!message)
      throw new NotFoundError(`no message with idempotency key "${body.idempotencyKey}" for tenant "${body.tenantId}"`, [
        { field: 'idempotencyKey', message: 'no such message' },
      ]);
    if (moved === 0) throw refused(message, 'rescheduled', 'scheduled or claimed');
    res.json(message);
  });

  router.post('/v1/messages/redrive', async (req, res) => {
    const body = parseOrThrow(redriveBody, req.body ?? {});
    res.json({ redriven: await service.redrive({ tenantId: body.tenantId, status: body.status, ...(body.ids ? { ids: body.ids } : {}) }) });
  });

  router.post('/v1/messages/:id/response', async (req, res) => {
    // Input first: a bad request is a 400 whatever the id.
    const id = parseOrThrow(idParam, req.params.id, 'id');
    const body = parseOrThrow(responseBody, req.body ?? {});
    const receivedAt = body.receivedAt === undefined ? undefined : timeOrThrow(body.receivedAt, undefined, 'receivedAt');
    const message = await messageOr404(id);
    res.json(await service.recordResponse({ id: message.id, text: body.text, ...(receivedAt ? { receivedAt } : {}) }));
  });

  router.post('/v1/messages/:id/mark-sent', async (req, res) => {
    // Input first: a bad request is a 400 whatever the id.
    const id = parseOrThrow(idParam, req.params.id, 'id');
    const body = parseOrThrow(markSentBody, req.body ?? {});
    const message = await messageOr404(id);
    const outcome = await service.markSent({
      idempotencyKey: message.idempotencyKey,
      tenantId: message.tenantId,
      ...(body.sentBy ? { sentBy: body.sentBy } : {}),
    });
    const after = (await service.get({ id: message.id }))!;
    if (!outcome.marked) throw refused(after, 'marked sent', 'scheduled, claimed or unknown');
    res.json(after);
  });

  router.post('/v1/messages/:id/resolve', async (req, res) => {
    // Input first: a bad request is a 400 whatever the id.
    const id = parseOrThrow(idParam, req.params.id, 'id');
    const body = parseOrThrow(resolveBody, req.body ?? {});
    const message = await messageOr404(id);
    const resolved = await service.resolveUnknown(message.id, body.outcome);
    const after = (await service.get({ id: message.id }))!;
    if (!resolved) throw refused(after, 'resolved', 'unknown');
    res.json(after);
  });

  return router;
}
