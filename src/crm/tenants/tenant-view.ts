import type { TenantRow } from './tenant-store';

const iso = (t: Date | null) => (t === null ? null : new Date(t).toISOString());

/** A tenant as the /api/v1 answers show it: camelCase, times as ISO 8601 with offset (UTC, Z). */
export function tenantView(row: TenantRow) {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    timezone: row.timezone,
    followupEnabled: row.followup_enabled,
    trialEndsAt: iso(row.trial_ends_at),
    suspendedAt: iso(row.suspended_at),
    suspensionReason: row.suspension_reason,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
