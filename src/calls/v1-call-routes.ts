import { Router } from 'express';
import { z } from 'zod';
import { assertNoBody } from '../http/no-body';
import { cursorFor, pageFrom, pageQueryFields } from '../http/pagination';
import { parseOrThrow, ProblemError } from '../http/problem';
import { cancelCall, reportCallOutcome } from './call-outcomes';
import { CALL_STATUSES, callOutcomeBody, callSettingsBody, enqueueCallBody } from './call-schemas';
import { enqueueCall, getCall, listCallsPage, readCallSettings, replaceCallSettings, tenantExists, type CallRow } from './call-store';
import type { CallsRoutesDeps } from './calls-routes';

const callsCursor = cursorFor('calls', /^\d{1,18}$/);
export const callIdParam = z.string().regex(/^\d{1,18}$/, { message: 'must be a call id (digits)' });
export const tenantIdParam = z.string().trim().min(1, { message: 'must not be empty' }).max(200, { message: 'is too long' });
export const callListQuery = z.strictObject({
  tenantId: tenantIdParam.optional(),
  status: z.enum(CALL_STATUSES, { message: `must be one of ${CALL_STATUSES.join(', ')}` }).optional(),
  ...pageQueryFields,
});

const iso = (t: Date | null) => (t === null ? null : new Date(t).toISOString());

/** A call as /v1 shows it: camelCase, times as ISO 8601 in UTC (Z). */
export function callView(row: CallRow) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    contactId: row.contact_id,
    phone: row.to_number,
    timezone: row.contact_timezone,
    status: row.status,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    notBefore: iso(row.scheduled_for),
    nextAttemptAt: iso(row.next_attempt_at),
    placedAt: iso(row.placed_at),
    endedAt: iso(row.ended_at),
    lastOutcome: row.last_outcome,
    lastError: row.last_error,
    providerCallId: row.provider_call_id,
    createdAt: iso(row.created_at)!,
  };
}

/**
 * /v1/calls (enqueue, list a page at a time, read, report an outcome, cancel) and
 * /v1/call-settings/:tenantId (hours, holidays, retry policy), in the /v1 conventions. The
 * unversioned /api/calls and /api/call-settings routes stay for one release.
 */
export function v1CallRoutes(deps: CallsRoutesDeps): Router {
  const { db } = deps;
  const router = Router();

  router.post('/v1/calls', async (req, res) => {
    const body = parseOrThrow(enqueueCallBody, req.body ?? {});
    if (!(await tenantExists(db, body.tenantId))) throw ProblemError.invalid([{ field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' }]);
    res.status(201).json(callView(await enqueueCall(db, body, deps.defaults.maxAttempts)));
  });

  router.get('/v1/calls', async (req, res) => {
    const query = parseOrThrow(callListQuery, req.query);
    const afterId = query.cursor === undefined ? undefined : callsCursor.decode(query.cursor)[0];
    const rows = await listCallsPage(db, { tenantId: query.tenantId, status: query.status, afterId, limit: query.limit + 1 });
    res.json(pageFrom(rows, query.limit, callView, (r) => [r.id], callsCursor));
  });

  router.get('/v1/calls/:id', async (req, res) => {
    const id = parseOrThrow(callIdParam, req.params.id, 'id');
    const call = await getCall(db, id);
    if (!call) throw new ProblemError('not-found', `call ${id} not found`);
    res.json(callView(call));
  });

  router.post('/v1/calls/:id/outcome', async (req, res) => {
    const id = parseOrThrow(callIdParam, req.params.id, 'id');
    const body = parseOrThrow(callOutcomeBody, req.body ?? {});
    res.json(callView(await reportCallOutcome(db, id, body, deps.defaults)));
  });

  router.post('/v1/calls/:id/cancel', async (req, res) => {
    const id = parseOrThrow(callIdParam, req.params.id, 'id');
    assertNoBody(req.body);
    res.json(callView(await cancelCall(db, id)));
  });

  router.get('/v1/call-settings/:tenantId', async (req, res) => {
    const tenantId = parseOrThrow(tenantIdParam, req.params.tenantId, 'tenantId');
    if (!(await tenantExists(db, tenantId))) throw new ProblemError('not-found', `tenant "${tenantId}" not found`);
    res.json(await readCallSettings(db, tenantId));
  });

  router.put('/v1/call-settings/:tenantId', async (req, res) => {
    const tenantId = parseOrThrow(tenantIdParam, req.params.tenantId, 'tenantId');
    const body = parseOrThrow(callSettingsBody, req.body ?? {});
    if (!(await tenantExists(db, tenantId))) throw new ProblemError('not-found', `tenant "${tenantId}" not found`);
    await db.transaction((tx) => replaceCallSettings(tx, tenantId, body));
    res.json(await readCallSettings(db, tenantId));
  });

  return router;
}
