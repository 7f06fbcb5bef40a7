import type { Database } from '../../src/db/database';
import { createKpiSnapshotJob } from '../../src/crm/kpi/kpi-job';
import { computeKpiSnapshot } from '../../src/crm/kpi/kpi-snapshots';
import type { RedisClient } from '../../src/redis/redis-client';
import { runTick } from '../../src/scheduler/run-tick';
import { connectTestRedis, openMigratedDatabase, replica } from '../support/harness';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import { addContacts, addTenant, contactId } from './crm-fixtures';

/** The date a snapshot is due for now in `zone`: the local day before (local now − 1 hour). */
function dueDate(zone: string): string {
  const local = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    new Date(Date.now() - 3_600_000),
  );
  const d = new Date(`${local}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}

describe('kpi-snapshots', () => {
  let testDb: TestDatabase;
  let db: Database;
  let redis: RedisClient;
  const keys = createKeyPrefix();
  let n = 0;
  const message = (tenant: string, channel: string, status: string, at: string) =>
    db.query(
      `INSERT INTO scheduled_messages (tenant_id, channel, recipient, scheduled_at, due_at, template, idempotency_key, status, sent_at, updated_at)
       VALUES ($1, $2, 'x@example.com', $4, $4, 'hi', $5, $3, CASE WHEN $3 = 'sent' THEN $4::timestamptz END, $4)`,
      [tenant, channel, status, at, `kpi-test:${n++}`],
    );

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openMigratedDatabase('postgres', testDb.url);
    redis = await connectTestRedis(TEST_REDIS_URL);
    await addTenant(db, 'ny', { timezone: 'America/New_York' });
    await addTenant(db, 'kol', { timezone: 'Asia/Kolkata' });
    await addTenant(db, 'badzone', { timezone: 'Mars/Olympus_Mons' });
    await addContacts(db, 'ny', 1);
    await addContacts(db, 'kol', 1);
  });
  afterAll(async () => {
    await redis.quit();
    await db.close();
    await keys.removeKeys();
    await testDb.drop();
  });

  it('counts one local day across the 2026 spring-forward in New York (23 hours) and in Kolkata (no DST)', async () => {
    // 2026-03-08 in New York runs 05:00Z .. 04:00Z next day (EST then EDT).
    const ny = contactId('ny', 1);
    await db.query(
      `INSERT INTO leads (tenant_id, contact_id, created_at) VALUES
      ('ny', $1, '2026-03-08T04:30:00Z'), ('ny', $1, '2026-03-08T05:30:00Z'),
      ('ny', $1, '2026-03-09T03:30:00Z'), ('ny', $1, '2026-03-09T04:30:00Z')`,
      [ny],
    );
    await message('ny', 'email', 'sent', '2026-03-08T06:00:00Z');
    await message('ny', 'email', 'sent', '2026-03-09T03:59:00Z');
    await message('ny', 'sms', 'sent', '2026-03-08T12:00:00Z');
    await message('ny', 'sms', 'failed', '2026-03-08T12:00:00Z');
    await message('ny', 'email', 'dead', '2026-03-08T13:00:00Z');
    await message('ny', 'email', 'sent', '2026-03-09T04:00:00Z'); // 00:00 EDT on the 9th: next day
    await db.query(`INSERT INTO calls (tenant_id, status, placed_at) VALUES
      ('ny', 'completed', '2026-03-08T15:00:00Z'), ('ny', 'no-answer', '2026-03-08T16:00:00Z'), ('ny', 'completed', '2026-03-07T15:00:00Z')`);
    await db.query(
      `INSERT INTO appointments (tenant_id, contact_id, starts_at, status) VALUES
      ('ny', $1, '2026-03-08T15:00:00Z', 'completed'), ('ny', $1, '2026-03-08T16:00:00Z', 'no-show'), ('ny', $1, '2026-03-08T17:00:00Z', 'cancelled')`,
      [ny],
    );
    await db.query(
      `INSERT INTO invoices (tenant_id, contact_id, amount_cents, due_at, payment_link, status, paid_at, recovered_by_dunning) VALUES
      ('ny', $1, 5000, '2026-03-01T00:00:00Z', 'https://pay.example/a', 'paid', '2026-03-08T20:00:00Z', true),
      ('ny', $1, 7000, '2026-03-01T00:00:00Z', 'https://pay.example/b', 'paid', '2026-03-08T21:00:00Z', false)`,
      [ny],
    );

    const snapshot = await computeKpiSnapshot(db, 'ny', '2026-03-08');
    expect(snapshot).toEqual(
      expect.objectContaining({
        tenant_id: 'ny',
        snapshot_date: '2026-03-08',
        timezone: 'America/New_York',
        leads_created: 2,
        messages_sent: { email: 2, sms: 1 },
        messages_failed: { email: 1, sms: 1 },
        calls_placed: 2,
        calls_answered: 1,
        appointments_kept: 1,
        payments_recovered: 1,
        payments_recovered_cents: '5000',
      }),
    );

    // Kolkata, UTC+05:30 all year: 2026-03-08 runs 2026-03-07T18:30Z .. 2026-03-08T18:30Z.
    const kol = contactId('kol', 1);
    await db.query(
      `INSERT INTO leads (tenant_id, contact_id, created_at) VALUES
      ('kol', $1, '2026-03-07T18:29:59Z'), ('kol', $1, '2026-03-07T18:30:00Z'), ('kol', $1, '2026-03-08T18:29:59Z'), ('kol', $1, '2026-03-08T18:30:00Z')`,
      [kol],
    );
    expect((await computeKpiSnapshot(db, 'kol', '2026-03-08')).leads_created).toBe(2);
  });

  it('re-running recomputes and overwrites the one snapshot of that (organization, date)', async () => {
    await db.query(`INSERT INTO leads (tenant_id, contact_id, created_at) VALUES ('ny', $1, '2026-03-08T18:00:00Z')`, [contactId('ny', 1)]);
    expect((await computeKpiSnapshot(db, 'ny', '2026-03-08')).leads_created).toBe(3);
    const rows = await db.query(`SELECT count(*)::int AS n FROM kpi_snapshots WHERE tenant_id = 'ny' AND snapshot_date = '2026-03-08'`);
    expect(rows.rows).toEqual([{ n: 1 }]);
  });

  it('the job snapshots each organization for its previous local day once, and leaves a tenant with an unknown zone out', async () => {
    const job = createKpiSnapshotJob({ schedule: '0 */15 * * * *' });
    const deps = () => replica('kpi-test', db, redis, keys.prefix);
    const first = await runTick(deps(), job, new Date(Date.UTC(2026, 0, 1, 0, 0)));
    expect(first).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 2 }));
    const snapshots = await db.query<{ tenant_id: string; snapshot_date: string }>(
      `SELECT tenant_id, snapshot_date::text AS snapshot_date FROM kpi_snapshots WHERE snapshot_date > '2026-03-08' ORDER BY tenant_id`,
    );
    expect(snapshots.rows).toEqual([
      { tenant_id: 'kol', snapshot_date: dueDate('Asia/Kolkata') },
      { tenant_id: 'ny', snapshot_date: dueDate('America/New_York') },
    ]);
    const second = await runTick(deps(), job, new Date(Date.UTC(2026, 0, 1, 0, 15)));
    expect(second).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 0 }));
  });
});
