import type { Database, Queryable } from '../../db/database';
import type { ListInput } from './list-schema';

/**
 * The one owner of writes to `contact_lists` and `contact_list_members` (STYLE 14): the CRM's
 * upsert of a list and the replacement of its membership. campaign-scheduler only reads them.
 */

export interface ListRow {
  id: string;
  tenant_id: string;
  name: string;
  created_at: Date;
  updated_at: Date;
  member_count: number;
}

export type ListUpsertOutcome = 'created' | 'updated' | 'unchanged' | 'unknown-tenant' | 'other-tenant';

/**
 * Inserts or replaces a list's name in one statement; the same body twice leaves the row as it
 * was (updated_at included). A list of another tenant is not moved.
 */
export async function upsertList(db: Queryable, list: ListInput): Promise<ListUpsertOutcome> {
  const written = await db.query<{ unknown_tenant: boolean; inserted: boolean | null }>(
    `WITH tenant AS (SELECT id FROM tenants WHERE id = $2),
     written AS (
       INSERT INTO contact_lists AS l (id, tenant_id, name)
       SELECT $1, id, $3 FROM tenant
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
        WHERE l.tenant_id = EXCLUDED.tenant_id AND l.name <> EXCLUDED.name
       RETURNING xmax = 0 AS inserted
     )
     SELECT NOT EXISTS (SELECT 1 FROM tenant) AS unknown_tenant, (SELECT inserted FROM written) AS inserted`,
    [list.id, list.tenantId, list.name],
  );
  const { unknown_tenant, inserted } = written.rows[0]!;
  if (unknown_tenant) return 'unknown-tenant';
  if (inserted !== null) return inserted ? 'created' : 'updated';
  return (await getList(db, list.id))!.tenant_id === list.tenantId ? 'unchanged' : 'other-tenant';
}

export async function getList(db: Queryable, id: string): Promise<ListRow | undefined> {
  const result = await db.query<ListRow>(
    `SELECT l.*, (SELECT count(*) FROM contact_list_members m WHERE m.list_id = l.id)::int AS member_count
       FROM contact_lists l WHERE l.id = $1`,
    [id],
  );
  return result.rows[0];
}

export type MembershipResult =
  | { outcome: 'updated' | 'unchanged'; added: number; removed: number; members: number }
  | { outcome: 'unknown-list' }
  /** Indexes into the given ids of those that are not contacts of the list's tenant; nothing written. */
  | { outcome: 'unknown-contacts'; indexes: number[] };

/**
 * Replaces a list's membership with exactly these contacts (distinct ids), in one transaction:
 * the members not named are removed, the new ones added, the others left with their added_at.
 * The list row is locked first, so two replacements of the same list apply one after the other.
 */
export function replaceListMembers(db: Database, listId: string, contactIds: readonly string[]): Promise<MembershipResult> {
  return db.transaction(async (tx) => {
    const list = await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM contact_lists WHERE id = $1 FOR UPDATE', [listId]);
    const tenantId = list.rows[0]?.tenant_id;
    if (tenantId === undefined) return { outcome: 'unknown-list' };
    const ids = [...contactIds];
    // A contact of another tenant is as unknown to this list as one that does not exist. FOR
    // SHARE: a contact deleted meanwhile waits for this transaction instead of failing its insert.
    const unknown = await tx.query<{ i: number }>(
      `SELECT g.i::int - 1 AS i FROM unnest($1::text[]) WITH ORDINALITY AS g(id, i)
        WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = g.id AND c.tenant_id = $2 FOR SHARE)
        ORDER BY g.i`,
      [ids, tenantId],
    );
    if (unknown.rows.length > 0) return { outcome: 'unknown-contacts', indexes: unknown.rows.map((r) => r.i) };
    const removed = await tx.query('DELETE FROM contact_list_members WHERE list_id = $1 AND NOT (contact_id = ANY($2::text[]))', [listId, ids]);
    const added = await tx.query(
      `INSERT INTO contact_list_members (list_id, contact_id)
       SELECT $1, id FROM unnest($2::text[]) AS id ORDER BY id
       ON CONFLICT DO NOTHING`,
      [listId, ids],
    );
    const outcome = added.rowCount + removed.rowCount === 0 ? 'unchanged' : 'updated';
    return { outcome, added: added.rowCount, removed: removed.rowCount, members: ids.length };
  });
}
