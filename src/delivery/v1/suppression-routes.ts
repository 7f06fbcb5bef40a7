import { Router } from 'express';
import { z } from 'zod';
import type { Queryable } from '../../db/database';
import { NotFoundError } from '../../errors/caller-error';
import { cursorFor, pageFrom, pageQueryFields } from '../../http/pagination';
import { parseOrThrow, ProblemError } from '../../http/problem';
import { listSuppressions, putSuppression, removeSuppression, SUPPRESSION_CHANNELS } from '../suppression-store';

const tenantId = z.string().trim().min(1, { message: 'required' }).max(200);
const channel = z.enum(SUPPRESSION_CHANNELS, { message: "must be email, sms, whatsapp, webhook, log or '*'" });
// As long as a message's recipient may be (schedule-request.ts), so every recipient can be opted out.
const recipient = z.string().trim().min(1, { message: 'required' }).max(2048);

export const suppressionBody = z.strictObject({
  tenantId,
  channel,
  recipient,
  reason: z.string().max(2000).nullable().optional().describe('why; replaced on every PUT'),
});
export const suppressionKeyQuery = z.strictObject({ tenantId, channel, recipient });
export const suppressionListQuery = z.strictObject({
  tenantId,
  channel: channel.optional(),
  recipient: recipient.optional(),
  ...pageQueryFields,
  // The cursor holds the last recipient seen, which may be up to 2048 characters of any script.
  cursor: z.string().max(12_000).optional(),
});

// Keyset on the primary key within the tenant: (channel, recipient).
const suppressionsCursor = cursorFor('suppressions', /^[\s\S]{1,2048}$/);

/**
 * Opt-outs under /api/v1, named by tenant, channel ('*' for all) and recipient: PUT adds one (or
 * replaces its reason; 201 when new, 200 when it was there), DELETE lifts it (404 when there was
 * none), GET lists a tenant's page by page. A suppressed recipient's messages are skipped when
 * claimed (claims.ts). No SQL here: suppression-store.ts owns the table.
 */
export function suppressionRoutes(deps: { db: Queryable }): Router {
  const router = Router();

  router.put('/v1/suppressions', async (req, res) => {
    const body = parseOrThrow(suppressionBody, req.body ?? {});
    const { suppression, created } = await putSuppression(deps.db, { ...body, reason: body.reason ?? null });
    res.status(created ? 201 : 200).json(suppression);
  });

  router.delete('/v1/suppressions', async (req, res) => {
    const key = parseOrThrow(suppressionKeyQuery, req.query);
    if (!(await removeSuppression(deps.db, key))) {
      throw new NotFoundError(`no suppression of "${key.recipient}" on channel "${key.channel}" for tenant "${key.tenantId}"`);
    }
    res.status(204).end();
  });

  router.get('/v1/suppressions', async (req, res) => {
    const query = parseOrThrow(suppressionListQuery, req.query);
    const after = query.cursor === undefined ? undefined : suppressionsCursor.decode(query.cursor);
    if (after && after.length !== 2) throw ProblemError.invalid([{ field: 'cursor', message: 'not a cursor this list gave out' }]);
    const rows = await listSuppressions(deps.db, query.tenantId, {
      limit: query.limit,
      ...(after ? { after: [after[0]!, after[1]!] as const } : {}),
      ...(query.channel ? { channel: query.channel } : {}),
      ...(query.recipient ? { recipient: query.recipient } : {}),
    });
    res.json(
      pageFrom(
        rows,
        query.limit,
        (row) => row,
        (row) => [row.channel, row.recipient],
        suppressionsCursor,
      ),
    );
  });

  return router;
}
