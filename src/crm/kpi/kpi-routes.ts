import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/database';
import { cursorFor, pageFrom, pageQueryFields } from '../../http/pagination';
import { parseOrThrow, ProblemError } from '../../http/problem';
import { calendarDate } from '../../util/iso-time';
import { entityId } from '../contacts/contact-schema';
import { getTenant } from '../tenants/tenant-store';
import { computeKpiSnapshot, listKpiSnapshots, type KpiSnapshotRow } from './kpi-snapshots';

// Keyset on the date: one snapshot per tenant and date.
const snapshotsCursor = cursorFor('kpi-snapshots', /^\d{4}-\d{2}-\d{2}$/);
export const snapshotListQuery = z
  .strictObject({ tenantId: entityId, from: calendarDate.optional(), to: calendarDate.optional(), ...pageQueryFields })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, { path: ['to'], message: 'must not be before from' });
export const recomputeBody = z.strictObject({ tenantId: entityId, date: calendarDate });

/** A snapshot as /v1 shows it: counts as numbers (cents too: a bigint in the table), the date as YYYY-MM-DD. */
export function snapshotView(row: KpiSnapshotRow) {
  return {
    tenantId: row.tenant_id,
    date: row.snapshot_date,
    timezone: row.timezone,
    leadsCreated: Number(row.leads_created),
    messagesSent: row.messages_sent,
    messagesFailed: row.messages_failed,
    callsPlaced: Number(row.calls_placed),
    callsAnswered: Number(row.calls_answered),
    appointmentsKept: Number(row.appointments_kept),
    paymentsRecovered: Number(row.payments_recovered),
    paymentsRecoveredCents: Number(row.payments_recovered_cents),
    computedAt: new Date(row.computed_at).toISOString(),
  };
}

/**
 * GET /v1/kpi-snapshots (a tenant's days in a date range, a page at a time) and POST
 * /v1/kpi-snapshots/recompute (one day again, e.g. after late facts). The unversioned
 * /api/kpi-snapshots routes stay for one release.
 */
export function kpiRoutes(deps: { db: Database }): Router {
  const { db } = deps;
  const router = Router();
  router.get('/v1/kpi-snapshots', async (req, res) => {
    const query = parseOrThrow(snapshotListQuery, req.query);
    const afterDate = query.cursor === undefined ? undefined : snapshotsCursor.decode(query.cursor)[0];
    const rows = await listKpiSnapshots(db, { tenantId: query.tenantId, from: query.from, to: query.to, afterDate, limit: query.limit + 1 });
    res.json(pageFrom(rows, query.limit, snapshotView, (r) => [r.snapshot_date], snapshotsCursor));
  });
  router.post('/v1/kpi-snapshots/recompute', async (req, res) => {
    const body = parseOrThrow(recomputeBody, req.body ?? {});
    if (!(await getTenant(db, body.tenantId)))
      throw new ProblemError('not-found', `tenantId: tenant ${body.tenantId} not found`, [{ field: 'tenantId', message: 'unknown tenant' }]);
    res.json(snapshotView(await computeKpiSnapshot(db, body.tenantId, body.date)));
  });
  return router;
}
