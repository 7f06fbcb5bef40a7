import type { ListRow } from './list-store';

/** A list as the /api/v1 answers show it: camelCase, times as ISO 8601 with offset (UTC, Z). */
export function listView(row: ListRow) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    memberCount: row.member_count,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
