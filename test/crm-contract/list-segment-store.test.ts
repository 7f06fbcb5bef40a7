import fs from 'node:fs';
import { toContactInput } from '../../src/crm/contacts/contact-schema';
import { upsertContacts } from '../../src/crm/contacts/contact-store';
import { toListInput } from '../../src/crm/lists/list-schema';
import { getList, replaceListMembers, upsertList } from '../../src/crm/lists/list-store';
import { toSegmentInput } from '../../src/crm/segments/segment-schema';
import { getSegment, upsertSegment } from '../../src/crm/segments/segment-store';
import { toTenantInput } from '../../src/crm/tenants/tenant-schema';
import { upsertTenant } from '../../src/crm/tenants/tenant-store';
import type { Database } from '../../src/db/database';
import { migrate } from '../../src/db/migrate';
import { createPgliteDatabase } from '../../src/db/pglite-database';
import { quietLogger } from '../support/harness';
import { freshPgliteDir } from '../support/pglite-template';

/**
 * The list and segment stores on the embedded PGlite, whose SQL the API tests run on PostgreSQL
 * only: upserts say what they did, a membership replacement adds, removes and refuses contacts of
 * another tenant (the NOT EXISTS … FOR SHARE check) as on PostgreSQL.
 */
describe('list and segment stores on PGlite', () => {
  let db: Database;
  let dir: string;
  beforeAll(async () => {
    dir = freshPgliteDir('crmw-lists-');
    db = await createPgliteDatabase(dir);
    await migrate(db, quietLogger);
    for (const t of ['t1', 't2']) await upsertTenant(db, toTenantInput(t, { name: t, status: 'active' }));
    await upsertContacts(
      db,
      ['c1', 'c2', 'c3'].map((id) => toContactInput(id, { tenantId: 't1' })),
    );
    await upsertContacts(db, [toContactInput('x9', { tenantId: 't2' })]);
  });
  afterAll(async () => {
    await db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('upserts a list and replaces its members', async () => {
    expect(await upsertList(db, toListInput('l1', { tenantId: 't1', name: 'VIP' }))).toBe('created');
    expect(await upsertList(db, toListInput('l1', { tenantId: 't1', name: 'VIP' }))).toBe('unchanged');
    expect(await upsertList(db, toListInput('l1', { tenantId: 't2', name: 'VIP' }))).toBe('other-tenant');
    expect(await replaceListMembers(db, 'l1', ['c1', 'c2'])).toEqual({ outcome: 'updated', added: 2, removed: 0, members: 2 });
    expect(await replaceListMembers(db, 'l1', ['c2', 'c3'])).toEqual({ outcome: 'updated', added: 1, removed: 1, members: 2 });
    expect(await replaceListMembers(db, 'l1', ['c2', 'c3'])).toEqual(expect.objectContaining({ outcome: 'unchanged', members: 2 }));
    expect(await replaceListMembers(db, 'l1', ['c1', 'x9', 'nobody'])).toEqual({ outcome: 'unknown-contacts', indexes: [1, 2] });
    expect(await replaceListMembers(db, 'nope', [])).toEqual({ outcome: 'unknown-list' });
    const members = await db.query(`SELECT contact_id FROM contact_list_members WHERE list_id = 'l1' ORDER BY contact_id`);
    expect(members.rows).toEqual([{ contact_id: 'c2' }, { contact_id: 'c3' }]);
    expect(await getList(db, 'l1')).toEqual(expect.objectContaining({ id: 'l1', tenant_id: 't1', name: 'VIP' }));
  });

  it('upserts a segment', async () => {
    expect(await upsertSegment(db, toSegmentInput('s1', { tenantId: 't1', name: 'Hot', tags: ['hot', 'hot', 'b2b'] }))).toBe('created');
    expect(await upsertSegment(db, toSegmentInput('s1', { tenantId: 't1', name: 'Hot', tags: ['hot', 'b2b'] }))).toBe('unchanged');
    expect(await upsertSegment(db, toSegmentInput('s1', { tenantId: 't1', name: 'Hot', tags: ['hot'] }))).toBe('updated');
    expect(await getSegment(db, 's1')).toEqual(expect.objectContaining({ tags: ['hot'] }));
  });
});
