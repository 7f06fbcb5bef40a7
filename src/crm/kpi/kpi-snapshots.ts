import type { Queryable } from '../../db/database';

export interface KpiSnapshotRow {
  tenant_id: string;
  snapshot_date: string;
  timezone: string;
  leads_created: number;
  messages_sent: Record<string, number>;
  messages_failed: Record<string, number>;
  calls_placed: number;
  calls_answered: number;
  appointments_kept: number;
  payments_recovered: number;
  payments_recovered_cents: string;
  computed_at: Date;
}

/**
 * Computes one organization's KPIs for one local date and upserts them: the day runs from
 * local midnight to local midnight in the tenant's time zone (23 or 25 hours across a DST
 * change, which `date::timestamp AT TIME ZONE tz` gets right). Re-running recomputes and
 * overwrites, so a late-arriving fact is picked up by running it again.
 */
export async function computeKpiSnapshot(db: Queryable, tenantId: string, date: string): Promise<KpiSnapshotRow> {
  const result = await db.query<KpiSnapshotRow>(
    `WITH t AS (
       SELECT id, timezone,
              ($2::date)::timestamp AT TIME ZONE timezone AS day_start,
              ($2::date + 1)::timestamp AT TIME ZONE timezone AS day_end
         FROM tenants WHERE id = $1
     ),
     sent AS (
       SELECT coalesce(jsonb_object_agg(channel, n), '{}'::jsonb) AS by_channel FROM (
         SELECT m.channel, count(*)::int AS n FROM scheduled_messages m, t
          WHERE m.tenant_id = t.id AND m.status = 'sent' AND m.sent_at >= t.day_start AND m.sent_at < t.day_end
          GROUP BY m.channel) s
     ),
     failed AS (
       SELECT coalesce(jsonb_object_agg(channel, n), '{}'::jsonb) AS by_channel FROM (
         SELECT m.channel, count(*)::int AS n FROM scheduled_messages m, t
          WHERE m.tenant_id = t.id AND m.status IN ('failed', 'dead')
            AND m.updated_at >= t.day_start AND m.updated_at < t.day_end
          GROUP BY m.channel) f
     )
     INSERT INTO kpi_snapshots (tenant_id, snapshot_date, timezone, leads_created, messages_sent, messages_failed,
                                calls_placed, calls_answered, appointments_kept, payments_recovered, payments_recovered_cents, computed_at)
     SELECT t.id, $2::date, t.timezone,
            (SELECT count(*) FROM leads l WHERE l.tenant_id = t.id AND l.created_at >= t.day_start AND l.created_at < t.day_end)::int,
            (SELECT by_channel FROM sent),
            (SELECT by_channel FROM failed),
            (SELECT count(*) FROM calls c WHERE c.tenant_id = t.id AND c.placed_at >= t.day_start AND c.placed_at < t.day_end)::int,
            (SELECT count(*) FROM calls c WHERE c.tenant_id = t.id AND c.placed_at >= t.day_start AND c.placed_at < t.day_end
                AND c.status IN ('in-progress', 'completed'))::int,
            (SELECT count(*) FROM appointments a WHERE a.tenant_id = t.id AND a.status = 'completed'
                AND a.starts_at >= t.day_start AND a.starts_at < t.day_end)::int,
            (SELECT count(*) FROM invoices i WHERE i.tenant_id = t.id AND i.recovered_by_dunning
                AND i.paid_at >= t.day_start AND i.paid_at < t.day_end)::int,
            (SELECT coalesce(sum(i.amount_cents), 0) FROM invoices i WHERE i.tenant_id = t.id AND i.recovered_by_dunning
                AND i.paid_at >= t.day_start AND i.paid_at < t.day_end)::bigint,
            now()
       FROM t
     ON CONFLICT (tenant_id, snapshot_date) DO UPDATE SET
       timezone = EXCLUDED.timezone, leads_created = EXCLUDED.leads_created,
       messages_sent = EXCLUDED.messages_sent, messages_failed = EXCLUDED.messages_failed,
       calls_placed = EXCLUDED.calls_placed, calls_answered = EXCLUDED.calls_answered,
       appointments_kept = EXCLUDED.appointments_kept, payments_recovered = EXCLUDED.payments_recovered,
       payments_recovered_cents = EXCLUDED.payments_recovered_cents, computed_at = EXCLUDED.computed_at
     RETURNING *, snapshot_date::text AS snapshot_date`,
    [tenantId, date],
  );
  const row = result.rows[0];
  if (!row) throw new Error(`tenant ${tenantId} not found`);
  return row;
}

/**
 * The organizations whose previous local day is due: local time has passed 01:00 and there is
 * no snapshot for that date yet. At 00:30 local the day before yesterday is the target, which
 * already exists, so nothing is done until 01:00.
 */
export async function dueSnapshots(db: Queryable, limit: number): Promise<Array<{ tenant_id: string; date: string }>> {
  const result = await db.query<{ tenant_id: string; date: string }>(
    `SELECT t.id AS tenant_id, d.date::text AS date
       -- A tenant with an unknown zone would fail the whole run: it is left out instead (and
       -- shows as missing snapshots).
       FROM (SELECT * FROM tenants WHERE timezone IN (SELECT name FROM pg_timezone_names)) t
      CROSS JOIN LATERAL (SELECT ((now() AT TIME ZONE t.timezone) - interval '1 hour')::date - 1 AS date) d
      WHERE t.status IN ('trial', 'active')
        AND NOT EXISTS (SELECT 1 FROM kpi_snapshots k WHERE k.tenant_id = t.id AND k.snapshot_date = d.date)
      ORDER BY t.id
      LIMIT $1`,
    [limit],
  );
  return result.rows;
}

export async function getKpiSnapshot(db: Queryable, tenantId: string, date: string): Promise<KpiSnapshotRow | undefined> {
  const result = await db.query<KpiSnapshotRow>(
    'SELECT *, snapshot_date::text AS snapshot_date FROM kpi_snapshots WHERE tenant_id = $1 AND snapshot_date = $2',
    [tenantId, date],
  );
  return result.rows[0];
}

/** One page of a tenant's snapshots in date order within [from, to] (either end open), after `afterDate`. */
export async function listKpiSnapshots(
  db: Queryable,
  page: { tenantId: string; from?: string | undefined; to?: string | undefined; afterDate?: string | undefined; limit: number },
): Promise<KpiSnapshotRow[]> {
  const result = await db.query<KpiSnapshotRow>(
    `SELECT *, snapshot_date::text AS snapshot_date FROM kpi_snapshots
      WHERE tenant_id = $1 AND ($2::date IS NULL OR snapshot_date >= $2::date) AND ($3::date IS NULL OR snapshot_date <= $3::date)
        AND ($4::date IS NULL OR snapshot_date > $4::date)
      ORDER BY kpi_snapshots.snapshot_date LIMIT $5`,
    [page.tenantId, page.from ?? null, page.to ?? null, page.afterDate ?? null, page.limit],
  );
  return result.rows;
}
