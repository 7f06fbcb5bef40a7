import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toContactInput } from '../../src/crm/contacts/contact-schema';
import { deleteContact, upsertContacts } from '../../src/crm/contacts/contact-store';
import { toTenantInput } from '../../src/crm/tenants/tenant-schema';
import { upsertTenant } from '../../src/crm/tenants/tenant-store';
import type { Database } from '../../src/db/database';
import { migrate, MIGRATIONS_DIR } from '../../src/db/migrate';
import { createPgDatabase } from '../../src/db/pg-database';
import { createPgliteDatabase } from '../../src/db/pglite-database';
import { scheduleMessages } from '../../src/delivery/outbox';
import { quietLogger } from '../support/harness';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { freshPgliteDir } from '../support/pglite-template';

/**
 * The contact and tenant stores called from TypeScript, on PostgreSQL and on the embedded PGlite:
 * migration 0031 keeps every existing row as it was, upserts say what they did, and a deleted
 * contact's messages — a recurring series among them, one occurrence already being sent — stop.
 */
describe.each(['postgres', 'pglite'] as const)('contact store on %s', (kind) => {
  let db: Database;
  let server: TestDatabase | undefined;
  let pgliteDir: string | undefined;
  const before0031 = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-migrations-'));

  beforeAll(async () => {
    for (const file of fs.readdirSync(MIGRATIONS_DIR).filter((f) => f < '0031')) fs.copyFileSync(path.join(MIGRATIONS_DIR, file), path.join(before0031, file));
    if (kind === 'postgres') {
      server = await createTestDatabase();
      db = createPgDatabase({ url: server.url, poolMax: 3, queryTimeoutMs: 10_000, applicationName: 'crm-contract test', logger: quietLogger });
    } else {
      pgliteDir = freshPgliteDir();
      db = await createPgliteDatabase(pgliteDir);
    }
  });
  afterAll(async () => {
    await db?.close();
    await server?.drop();
    for (const dir of [before0031, pgliteDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('migration 0031 adds the contract columns and changes nothing that existed', async () => {
    await migrate(db, quietLogger, before0031);
    await db.query(`INSERT INTO tenants (id, name, timezone) VALUES ('t1', 'One', 'Asia/Tokyo'), ('t2', 'Two', 'UTC')`);
    await db.query(
      `INSERT INTO contacts (id, tenant_id, name, email, tags, attributes, created_at)
       VALUES ('old', 't1', 'Old', 'old@example.com', '{a}', '{"plan": "gold"}', '2020-05-01T00:00:00Z')`,
    );
    const oldColumns = 'id, tenant_id, name, email, phone, whatsapp, tags, attributes, created_at';
    const before = (await db.query(`SELECT ${oldColumns} FROM contacts`)).rows;
    const tenantsBefore = (await db.query('SELECT * FROM tenants ORDER BY id')).rows;

    await migrate(db, quietLogger);
    expect((await db.query(`SELECT ${oldColumns} FROM contacts`)).rows).toEqual(before);
    expect((await db.query('SELECT * FROM tenants ORDER BY id')).rows).toEqual(tenantsBefore);
    const added = (
      await db.query<{ timezone: string | null; consent: unknown; same: boolean }>(`SELECT timezone, consent, updated_at = created_at AS same FROM contacts`)
    ).rows;
    expect(added).toEqual([{ timezone: null, consent: {}, same: true }]);
  });

  it('upserts report created, unchanged, updated, unknown-tenant and other-tenant', async () => {
    const ann = toContactInput('ann', { tenantId: 't1', name: 'Ann', email: 'ann@example.com', consent: { sms: true } });
    expect(await upsertContacts(db, [ann])).toEqual(new Map([['ann', 'created']]));
    const row = (await db.query(`SELECT * FROM contacts WHERE id = 'ann'`)).rows;
    expect(await upsertContacts(db, [ann])).toEqual(new Map([['ann', 'unchanged']]));
    expect((await db.query(`SELECT * FROM contacts WHERE id = 'ann'`)).rows).toEqual(row);

    const outcomes = await upsertContacts(db, [
      { ...ann, name: 'Ann B.' },
      toContactInput('ghost', { tenantId: 'nobody' }),
      toContactInput('old', { tenantId: 't2', name: 'Moved?' }),
    ]);
    expect(outcomes).toEqual(
      new Map([
        ['ann', 'updated'],
        ['ghost', 'unknown-tenant'],
        ['old', 'other-tenant'],
      ]),
    );
    expect((await db.query(`SELECT id, tenant_id, name FROM contacts ORDER BY id`)).rows).toEqual([
      { id: 'ann', tenant_id: 't1', name: 'Ann B.' },
      { id: 'old', tenant_id: 't1', name: 'Old' },
    ]);

    const tenant = toTenantInput('t3', { name: 'Three', status: 'active', timezone: 'Europe/Paris' });
    expect((await upsertTenant(db, tenant)).outcome).toBe('created');
    expect((await upsertTenant(db, tenant)).outcome).toBe('unchanged');
    expect((await upsertTenant(db, { ...tenant, status: 'suspended' })).tenant.suspended_at).not.toBeNull();
  });

  it('delete cancels the contact’s open messages and stops its recurring series, leaving others alone', async () => {
    const at = new Date(Date.now() + 3_600_000);
    const message = (contactId: string, key: string, recurring = false) => ({
      tenantId: 't1',
      contactId,
      channel: 'log' as const,
      recipient: contactId,
      scheduledAt: at,
      template: 'Hi',
      idempotencyKey: key,
      ...(recurring ? { recurrenceIntervalSeconds: 86_400 } : {}),
    });
    await scheduleMessages(db, [message('ann', 'ann-once'), message('ann', 'ann-daily', true), message('ann', 'ann-weekly', true), message('old', 'old-once')]);
    // One occurrence is in a provider's hands right now: it cannot be unsent, but must not recur.
    await db.query(`UPDATE scheduled_messages SET status = 'sending' WHERE idempotency_key = 'ann-weekly'`);

    // Her calls still waiting are withdrawn too; one already ringing and another contact's are not.
    const call = async (contactId: string, status: string) =>
      (
        await db.query<{ id: string }>(
          `INSERT INTO calls (tenant_id, contact_id, to_number, status) VALUES ('t1', $1, '+14155550100', $2) RETURNING id::text AS id`,
          [contactId, status],
        )
      ).rows[0]!.id;
    const [queued, ringing, other] = [await call('ann', 'queued'), await call('ann', 'dialing'), await call('old', 'queued')];

    expect(await deleteContact(db, 'ann')).toEqual({ messagesCancelled: 2, callsCancelled: 1 });
    const calls = (await db.query(`SELECT id::text AS id, status FROM calls ORDER BY id`)).rows;
    expect(calls).toEqual([
      { id: queued, status: 'cancelled' },
      { id: ringing, status: 'dialing' },
      { id: other, status: 'queued' },
    ]);
    expect(await deleteContact(db, 'ann')).toBeUndefined();
    const rows = (await db.query(`SELECT idempotency_key, status, recurrence_interval_seconds AS every FROM scheduled_messages ORDER BY idempotency_key`)).rows;
    expect(rows).toEqual([
      { idempotency_key: 'ann-daily', status: 'cancelled', every: 86_400 },
      { idempotency_key: 'ann-once', status: 'cancelled', every: null },
      { idempotency_key: 'ann-weekly', status: 'sending', every: null },
      { idempotency_key: 'old-once', status: 'scheduled', every: null },
    ]);
  });
});
