import type { SegmentRow } from './segment-store';

/** A segment as the /api/v1 answers show it: camelCase, times as ISO 8601 with offset (UTC, Z). */
export function segmentView(row: SegmentRow) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    tags: row.tags,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
