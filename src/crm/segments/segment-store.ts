import type { Queryable } from '../../db/database';
import type { SegmentInput } from './segment-schema';

/**
 * The one owner of writes to `segments` (STYLE 14): the CRM's upsert. campaign-scheduler reads
 * them when a campaign expands.
 */

export interface SegmentRow {
  id: string;
  tenant_id: string;
  name: string;
  tags: string[];
  created_at: Date;
  updated_at: Date;
}

export type SegmentUpsertOutcome = 'created' | 'updated' | 'unchanged' | 'unknown-tenant' | 'other-tenant';

/**
 * Inserts or replaces a segment in one statement; the same body twice leaves the row as it was
 * (updated_at included). A segment of another tenant is not moved.
 */
export async function upsertSegment(db: Queryable, segment: SegmentInput): Promise<SegmentUpsertOutcome> {
  const written = await db.query<{ unknown_tenant: boolean; inserted: boolean | null }>(
    `WITH tenant AS (SELECT id FROM tenants WHERE id = $2),
     written AS (
       INSERT INTO segments AS s (id, tenant_id, name, tags)
       SELECT $1, id, $3, $4::text[] FROM tenant
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, tags = EXCLUDED.tags, updated_at = now()
        WHERE s.tenant_id = EXCLUDED.tenant_id AND (s.name, s.tags) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.tags)
       RETURNING xmax = 0 AS inserted
     )
     SELECT NOT EXISTS (SELECT 1 FROM tenant) AS unknown_tenant, (SELECT inserted FROM written) AS inserted`,
    [segment.id, segment.tenantId, segment.name, segment.tags],
  );
  const { unknown_tenant, inserted } = written.rows[0]!;
  if (unknown_tenant) return 'unknown-tenant';
  if (inserted !== null) return inserted ? 'created' : 'updated';
  return (await getSegment(db, segment.id))!.tenant_id === segment.tenantId ? 'unchanged' : 'other-tenant';
}

export async function getSegment(db: Queryable, id: string): Promise<SegmentRow | undefined> {
  return (await db.query<SegmentRow>('SELECT * FROM segments WHERE id = $1', [id])).rows[0];
}
