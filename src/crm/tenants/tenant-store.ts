import type { Queryable } from '../../db/database';
import type { TenantInput } from './tenant-schema';

/**
 * The one owner of writes to `tenants` (STYLE 14): the CRM's upsert and trial-expiration's
 * suspension. Other rooms only read tenants.
 */

export interface TenantRow {
  id: string;
  name: string;
  status: TenantInput['status'];
  trial_ends_at: Date | null;
  suspended_at: Date | null;
  suspension_reason: string | null;
  followup_enabled: boolean;
  timezone: string;
  created_at: Date;
  updated_at: Date;
}

export type TenantUpsertOutcome = 'created' | 'updated' | 'unchanged';

/**
 * Inserts or replaces a tenant. The same body twice leaves one identical row (updated_at
 * included); a changed field updates it. suspended_at is kept while the tenant stays suspended
 * (it records when the suspension began) and cleared when the CRM lifts it.
 */
export async function upsertTenant(db: Queryable, t: TenantInput): Promise<{ tenant: TenantRow; outcome: TenantUpsertOutcome }> {
  const written = await db.query<TenantRow & { inserted: boolean }>(
    `INSERT INTO tenants AS t (id, name, status, timezone, followup_enabled, trial_ends_at, suspension_reason, suspended_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $3 = 'suspended' THEN now() END)
     ON CONFLICT (id) DO UPDATE
        SET name = EXCLUDED.name, status = EXCLUDED.status, timezone = EXCLUDED.timezone,
            followup_enabled = EXCLUDED.followup_enabled, trial_ends_at = EXCLUDED.trial_ends_at,
            suspension_reason = EXCLUDED.suspension_reason,
            suspended_at = CASE WHEN EXCLUDED.status <> 'suspended' THEN NULL ELSE coalesce(t.suspended_at, now()) END,
            updated_at = now()
      WHERE (t.name, t.status, t.timezone, t.followup_enabled, t.trial_ends_at, t.suspension_reason)
            IS DISTINCT FROM
            (EXCLUDED.name, EXCLUDED.status, EXCLUDED.timezone, EXCLUDED.followup_enabled, EXCLUDED.trial_ends_at, EXCLUDED.suspension_reason)
     RETURNING *, xmax = 0 AS inserted`,
    [t.id, t.name, t.status, t.timezone, t.followupEnabled, t.trialEndsAt?.toISOString() ?? null, t.suspensionReason],
  );
  const row = written.rows[0];
  if (row) {
    const { inserted, ...tenant } = row;
    return { tenant, outcome: inserted ? 'created' : 'updated' };
  }
  return { tenant: (await getTenant(db, t.id))!, outcome: 'unchanged' };
}

export async function getTenant(db: Queryable, id: string): Promise<TenantRow | undefined> {
  return (await db.query<TenantRow>('SELECT * FROM tenants WHERE id = $1', [id])).rows[0];
}

/**
 * Suspends up to `limit` tenants whose trial ended (on the database's clock) and returns their
 * ids. SKIP LOCKED: a tenant the CRM is upserting right now is left to the next batch or tick.
 */
export async function suspendExpiredTrials(db: Queryable, limit: number): Promise<string[]> {
  const batch = await db.query<{ id: string }>(
    `UPDATE tenants
        SET status = 'suspended', suspended_at = now(), suspension_reason = 'trial expired', updated_at = now()
      WHERE id IN (SELECT id FROM tenants
                    WHERE status = 'trial' AND trial_ends_at <= now()
                    ORDER BY trial_ends_at
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED)
      RETURNING id`,
    [limit],
  );
  return batch.rows.map((r) => r.id);
}
