import type { LeadRow } from './lead-store';

const iso = (t: Date | null) => (t === null ? null : new Date(t).toISOString());

/** A lead as the /api/v1 answers show it: camelCase, times as ISO 8601 with offset (UTC, Z). */
export function leadView(row: LeadRow) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    contactId: row.contact_id,
    status: row.status,
    lastReplyAt: iso(row.last_reply_at),
    convertedAt: iso(row.converted_at),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}
