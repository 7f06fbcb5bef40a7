import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import type { Database } from '../../src/db/database';
import { MIGRATIONS_DIR, migrate } from '../../src/db/migrate';
import { createPgDatabase } from '../../src/db/pg-database';
import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { recordReply } from '../../src/delivery/replies';
import { SYSTEM_KEY_PREFIXES } from '../../src/delivery/idempotency-keys';
import { upsertContacts } from '../../src/crm/contacts/contact-store';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { quietLogger } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { waitFor } from '../support/wait';
import { REPO_ROOT, waitUntilStarted } from '../support/worker-process';
import { sinkWorkerEnv } from '../support/delivery-harness';

const run = promisify(execFile);
const PYTHON_APP = path.join(REPO_ROOT, 'examples', 'sql', 'schedule_from_python.py');
// Debian's Python, which has Debian's psycopg (scripts/test.sh installs python3-psycopg); a
// Python of pyenv or a virtualenv earlier on the PATH would not.
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * The SQL door (migration 0009): functions in crm-worker's schema that an application of any
 * language calls inside its own transaction. The application's connection here keeps
 * PostgreSQL's default search_path (a plain database), as a CRM's would.
 */
describe('SQL door', () => {
  let testDb: TestDatabase;
  let db: Database;
  let app: Client;

  beforeAll(async () => {
    testDb = await createTestDatabase({ plain: true });
    db = createPgDatabase({ url: testDb.url, poolMax: 3, queryTimeoutMs: 10_000, applicationName: 'sql door test', logger: quietLogger });
    await migrate(db, quietLogger);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one'), ('t2', 'Tenant two')`);
    app = new Client({ connectionString: testDb.url });
    await app.connect();
  });
  afterAll(async () => {
    await app?.end();
    await db?.close();
    await testDb?.drop();
  });

  const schedule = (args: Record<string, unknown>) => {
    const names = Object.keys(args);
    return app.query<{ message_id: string; duplicate: boolean }>(
      `SELECT * FROM crm_worker.schedule_message(${names.map((n, i) => `${n} => $${i + 1}`).join(', ')})`,
      Object.values(args).map((v) => (v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v)),
    );
  };
  const inAnHour = new Date(Date.now() + 3_600_000);
  const base = (key: string, overrides: Record<string, unknown> = {}) => ({
    tenant_id: 't1',
    channel: 'email',
    recipient: 'ada@example.com',
    scheduled_at: inAnHour,
    template: 'Hello {{ name }}',
    idempotency_key: key,
    ...overrides,
  });
  const errorOf = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      const e = err as { code?: string; column?: string; message: string };
      return { code: e.code, column: e.column, message: e.message };
    }
    throw new Error('expected the call to fail');
  };

  it('writes the same row as the TypeScript door, fingerprint included, for the same request', async () => {
    const at = new Date(Date.now() + 86_400_000);
    const variables = {
      name: 'Zoë',
      z: [3, 1.5, -0.25, 1e21, 0.000001, 1e-7, 123456789012345680000, 2 ** 53, { b: true, a: null }],
      a: 'tab\there "quoted" \\ \u0001 ☃',
      nested: { y: 'x', x: { k: [] } },
    };
    const shared = {
      channel: 'webhook',
      recipient: 'https://crm.example.com/hook',
      template: 'Hi {{ name }}',
      subject: 'S',
      contextHints: { plan: 'pro' },
      type: 'nurture',
      tone: 'warm',
      personalize: true,
      skipIfCompleted: true,
      actionItemId: 'a1',
      stopOnReply: true,
      recurrenceIntervalSeconds: 3600,
    };
    const request: ScheduleRequest = {
      tenantId: 't1',
      contactId: 'c1',
      leadId: 'l1',
      scheduledAt: at,
      variables,
      idempotencyKey: 'parity-ts',
      ...shared,
    } as ScheduleRequest;
    await scheduleMessages(db, [request], { webhookTargets: new Set<string>() });
    await schedule({
      tenant_id: 't1',
      contact_id: 'c1',
      lead_id: 'l1',
      channel: 'webhook',
      recipient: 'https://crm.example.com/hook',
      scheduled_at: at,
      template: 'Hi {{ name }}',
      subject: 'S',
      variables,
      context_hints: { plan: 'pro' },
      type: 'nurture',
      tone: 'warm',
      personalize: true,
      skip_if_completed: true,
      action_item_id: 'a1',
      stop_on_reply: true,
      recurrence_interval_seconds: 3600,
      idempotency_key: 'parity-sql',
    });
    const rows = (await db.query(`SELECT * FROM scheduled_messages WHERE idempotency_key IN ('parity-ts', 'parity-sql') ORDER BY idempotency_key DESC`)).rows;
    expect(rows).toHaveLength(2);
    const comparable = (r: Record<string, unknown>) => {
      const { id, idempotency_key, series_key, created_at, updated_at, ...rest } = r;
      return rest;
    };
    expect(comparable(rows[1]!)).toEqual(comparable(rows[0]!));
    expect(rows[0]!.request_fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a repeat is a duplicate of the same row; the same key for another message is refused (23505 naming idempotency_key)', async () => {
    const first = await schedule(base('dup-1'));
    const again = await schedule(base('dup-1'));
    expect(again.rows[0]).toEqual({ message_id: first.rows[0]!.message_id, duplicate: true });
    expect(first.rows[0]!.duplicate).toBe(false);
    expect(await errorOf(schedule(base('dup-1', { template: 'Something else' })))).toMatchObject({ code: '23505', column: 'idempotency_key' });
    // Keys are per tenant: the same key in another tenant is another message.
    expect((await schedule(base('dup-1', { tenant_id: 't2' }))).rows[0]!.duplicate).toBe(false);
  });

  it('refuses bad input with SQLSTATE 22023 naming the field, and writes nothing', async () => {
    const before = (await db.query(`SELECT count(*) AS n FROM scheduled_messages`)).rows[0]!.n;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ channel: 'pigeon' }, 'channel'],
      [{ recipient: 'not-an-address' }, 'recipient'],
      [{ channel: 'sms', recipient: '0123' }, 'recipient'],
      [{ scheduled_at: null }, 'scheduled_at'],
      [{ template: '' }, 'template'],
      [{ idempotency_key: ' ' }, 'idempotency_key'],
      [{ idempotency_key: 'campaign:c1:x' }, 'idempotency_key'],
      [{ idempotency_key: 'k@r123' }, 'idempotency_key'],
      [{ variables: [1, 2] }, 'variables'],
      [{ type: 'no spaces please' }, 'type'],
      [{ recurrence_interval_seconds: 5 }, 'recurrence_interval_seconds'],
      [{ skip_if_completed: true }, 'action_item_id'],
    ];
    for (const [overrides, field] of cases) {
      const error = await errorOf(schedule(base('bad-input', overrides)));
      expect({ overrides, ...error }).toMatchObject({ overrides, code: '22023', column: field, message: expect.stringMatching(new RegExp(`^${field}: `)) });
    }
    expect(await errorOf(schedule(base('bad-tenant', { tenant_id: 'nope' })))).toMatchObject({ code: '23503', column: 'tenant_id' });
    expect((await db.query(`SELECT count(*) AS n FROM scheduled_messages`)).rows[0]!.n).toBe(before);
  });

  it('reserves the same key prefixes as the TypeScript door', async () => {
    const sql = fs.readFileSync(path.join(MIGRATIONS_DIR, '0009_sql_api.sql'), 'utf8');
    const listed = /unnest\(ARRAY\[([^\]]+)\]\)/
      .exec(sql)![1]!
      .split(',')
      .map((s) => s.trim().replace(/^'|'$/g, ''));
    expect(listed).toEqual([...SYSTEM_KEY_PREFIXES]);
    for (const prefix of SYSTEM_KEY_PREFIXES) {
      expect((await app.query(`SELECT crm_worker.reserved_key_problem($1) AS p`, [`${prefix}x`])).rows[0].p).toContain(prefix);
    }
    expect((await app.query(`SELECT crm_worker.reserved_key_problem('order-42') AS p`)).rows[0].p).toBeNull();
  });

  it('exists if and only if the caller commits; the wake-up comes at commit', async () => {
    const listener = new Client({ connectionString: testDb.url });
    await listener.connect();
    const wakeups: string[] = [];
    listener.on('notification', (n) => wakeups.push(n.payload ?? ''));
    await listener.query('LISTEN crm_delivery_wakeup');
    try {
      await app.query('BEGIN');
      await schedule(base('tx-rollback'));
      await app.query('ROLLBACK');
      await app.query('BEGIN');
      await schedule(base('tx-commit'));
      // Not before the commit: a listener sees only committed transactions' notifications.
      await listener.query('SELECT 1');
      expect(wakeups).toEqual([]);
      await app.query('COMMIT');
      await waitFor('the wake-up of the committed message', () => wakeups.length > 0);
      expect(wakeups).toHaveLength(1);
      const keys = (await db.query(`SELECT idempotency_key FROM scheduled_messages WHERE idempotency_key LIKE 'tx-%'`)).rows;
      expect(keys).toEqual([{ idempotency_key: 'tx-commit' }]);
    } finally {
      await listener.end();
    }
  });

  it('cancel_message, record_reply and upsert_contact work from the caller’s connection; upsert_contact writes the row the store writes', async () => {
    await schedule(base('to-cancel'));
    expect((await app.query(`SELECT crm_worker.cancel_message(tenant_id => 't1', idempotency_key => 'to-cancel') AS n`)).rows[0].n).toBe(1);
    expect((await app.query(`SELECT crm_worker.cancel_message(tenant_id => 't1', idempotency_key => 'to-cancel') AS n`)).rows[0].n).toBe(0);
    expect((await db.query(`SELECT status FROM scheduled_messages WHERE idempotency_key = 'to-cancel'`)).rows).toEqual([{ status: 'cancelled' }]);

    const upsert = `SELECT crm_worker.upsert_contact(id => 'c9', tenant_id => $1, name => $2, email => 'c9@example.com', tags => ARRAY['vip'],
                      timezone => 'Europe/Berlin', consent => '{"email": true}') AS outcome`;
    expect((await app.query(upsert, ['t1', 'Cy'])).rows[0].outcome).toBe('created');
    const stored = (await db.query(`SELECT * FROM contacts WHERE id = 'c9'`)).rows;
    expect((await app.query(upsert, ['t1', 'Cy'])).rows[0].outcome).toBe('unchanged');
    expect((await db.query(`SELECT * FROM contacts WHERE id = 'c9'`)).rows).toEqual(stored);
    expect((await app.query(upsert, ['t1', 'Cyril'])).rows[0].outcome).toBe('updated');
    expect((await db.query(`SELECT id, tenant_id, name, tags, timezone, consent FROM contacts WHERE id = 'c9'`)).rows).toEqual([
      { id: 'c9', tenant_id: 't1', name: 'Cyril', tags: ['vip'], timezone: 'Europe/Berlin', consent: { email: true } },
    ]);
    expect(await errorOf(app.query(upsert, ['t2', 'Cy']))).toMatchObject({ code: '23505', column: 'id' });
    for (const [args, field] of [
      [`phone => '555'`, 'phone'],
      [`email => 'nope'`, 'email'],
      [`timezone => 'Mars/Olympus'`, 'timezone'],
      [`consent => '{"fax": true}'`, 'consent'],
      [`tags => ARRAY['']`, 'tags'],
      [`attributes => '[1]'`, 'attributes'],
    ] as const) {
      expect(await errorOf(app.query(`SELECT crm_worker.upsert_contact(id => 'c10', tenant_id => 't1', ${args})`))).toMatchObject({
        code: '22023',
        column: field,
      });
    }
    // The same contact through the SQL door and through the contacts module's store: the same row.
    const fields = {
      tenantId: 't1',
      name: 'Dee',
      email: 'dee@example.com',
      phone: '+14155550199',
      whatsapp: null,
      timezone: 'Asia/Tokyo',
      tags: ['a', 'b'],
      attributes: { plan: 'pro', seats: 3 },
      consent: { sms: false },
    };
    await upsertContacts(db, [{ id: 'via-ts', ...fields }]);
    await app.query(
      `SELECT crm_worker.upsert_contact(id => 'via-sql', tenant_id => 't1', name => 'Dee', email => 'dee@example.com', phone => '+14155550199',
         timezone => 'Asia/Tokyo', tags => ARRAY['a', 'b'], attributes => '{"plan": "pro", "seats": 3}', consent => '{"sms": false}')`,
    );
    const pair = (await db.query(`SELECT * FROM contacts WHERE id IN ('via-ts', 'via-sql') ORDER BY id DESC`)).rows;
    const comparable = ({ id, created_at, updated_at, ...rest }: Record<string, unknown>) => rest;
    expect(pair).toHaveLength(2);
    expect(comparable(pair[1]!)).toEqual(comparable(pair[0]!));

    const at = new Date(Date.now() - 60_000);
    expect(
      (
        await app.query(
          `SELECT crm_worker.record_reply(tenant_id => 't1', contact_id => 'c9', lead_ids => ARRAY['l1', 'l2', 'l1'], channel => 'sms', body => 'yes', received_at => $1) AS n`,
          [at],
        )
      ).rows[0].n,
    ).toBe(2);
    // The TypeScript door goes through the same function.
    expect(await recordReply(db, { tenantId: 't1', contactId: 'c9', receivedAt: at, body: 'again' })).toEqual({ recorded: 1 });
    const replies = (await db.query(`SELECT lead_id, body FROM contact_replies WHERE contact_id = 'c9' ORDER BY body, lead_id`)).rows;
    expect(replies).toEqual([
      { lead_id: null, body: 'again' },
      { lead_id: 'l1', body: 'yes' },
      { lead_id: 'l2', body: 'yes' },
    ]);
  });
});

describe('SQL door from a Python application', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
  beforeAll(async () => {
    sink = await startWebhookSink({ secret: 'sql-door-secret' });
  });
  afterAll(async () => sink?.close());

  it('commit → delivered once at its time by a worker process; rollback → nothing, anywhere', async () => {
    const worker = fixture.spawn('sql-door', sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'sql-door-secret'));
    await waitUntilStarted(worker);
    await fixture.sql(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
    const python = (key: string, outcome: string) =>
      run(PYTHON, [PYTHON_APP, fixture.db.url, 't1', 'sink', key, '2', outcome], { timeout: 60_000 }).then((r) => JSON.parse(r.stdout));

    expect(await python('py-rollback', 'rollback')).toMatchObject({ outcome: 'rollback', duplicate: false });
    expect(await python('py-commit', 'commit')).toMatchObject({ outcome: 'commit', duplicate: false });

    await waitFor('the committed message at the sink', () => sink.deliveries.length > 0, { limitMs: 60_000 });
    await waitFor('the row marked sent', async () => (await fixture.sql(`SELECT 1 FROM scheduled_messages WHERE status = 'sent'`)).length === 1);
    const rows = await fixture.sql<{ idempotency_key: string; status: string; scheduled_at: Date }>(
      `SELECT idempotency_key, status, scheduled_at FROM scheduled_messages ORDER BY id`,
    );
    expect(rows.map((r) => r.idempotency_key)).toEqual(['py-commit']);
    expect(sink.deliveries).toHaveLength(1);
    expect(JSON.stringify(sink.deliveries[0]!.body)).toContain('Thanks for your order, Ada!');
    expect(sink.deliveries[0]!.signatureValid).toBe(true);
    // Not before its time (the sink's clock and the database's are this machine's).
    expect(sink.deliveries[0]!.receivedAt).toBeGreaterThanOrEqual(new Date(rows[0]!.scheduled_at).getTime());
    // The application's own row went the same way as the message.
    const orders = await fixture.sql<{ note: string }>(`SELECT note FROM public.app_orders ORDER BY id`);
    expect(orders).toEqual([{ note: 'order for py-commit' }]);
    expect(sink.duplicates).toEqual([]);
  });
});
