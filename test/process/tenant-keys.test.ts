import type { Database } from '../../src/db/database';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'tenant-keys-test-key-0123456789';

/**
 * Issue 10, item 4: idempotency keys belong to a tenant. On a real worker process's API over
 * real PostgreSQL: another tenant's key is no duplicate, a reused key with another payload is a
 * 409 naming the key (the same payload stays an idempotent 201 with duplicates: 1), and the keys
 * crm-worker makes for itself are refused to callers with a 400 naming the field.
 */
describe('tenant-scoped idempotency keys', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let db: Database;

  beforeAll(async () => {
    worker = fixture.spawn('tenant-keys', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY });
    await waitUntilStarted(worker);
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('ta', 'Tenant A'), ('tb', 'Tenant B')`);
  });
  afterAll(async () => {
    await db?.close();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${worker.port()}/api${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const message = (overrides: Record<string, unknown> = {}) => ({
    tenantId: 'ta',
    contactId: 'c1',
    channel: 'log',
    recipient: 'ann',
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
    template: 'Hello {{ name }}',
    variables: { name: 'Ann' },
    idempotencyKey: 'order-1001',
    ...overrides,
  });
  const rows = async (key: string) =>
    (
      await db.query<{ tenant_id: string; template: string; status: string }>(
        `SELECT tenant_id, template, status FROM scheduled_messages WHERE idempotency_key = $1 ORDER BY tenant_id`,
        [key],
      )
    ).rows;
  const snapshot = async () => JSON.stringify((await db.query(`SELECT * FROM scheduled_messages ORDER BY id`)).rows);

  it("another tenant's key is its own message, not a duplicate", async () => {
    const a = message({ idempotencyKey: 'shared-key' });
    expect((await call('POST', '/followups', a)).body).toEqual(expect.objectContaining({ scheduled: 1, duplicates: 0 }));
    const b = await call('POST', '/followups', { ...a, tenantId: 'tb', template: 'Tenant B text' });
    expect(b).toEqual({ status: 201, body: expect.objectContaining({ scheduled: 1, duplicates: 0 }) });
    expect(await rows('shared-key')).toEqual([
      { tenant_id: 'ta', template: 'Hello {{ name }}', status: 'scheduled' },
      { tenant_id: 'tb', template: 'Tenant B text', status: 'scheduled' },
    ]);

    // Acting by key now needs the tenant: without it the key names two messages.
    const ambiguous = await call('POST', '/followups/cancel', { idempotencyKeys: ['shared-key'] });
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.field).toBe('tenantId');
    expect((await call('POST', '/followups/cancel', { tenantId: 'tb', idempotencyKeys: ['shared-key'] })).body).toEqual({ cancelled: 1 });
    expect((await rows('shared-key')).map((r) => r.status)).toEqual(['scheduled', 'cancelled']);
  });

  it('the same key with the same payload is an idempotent 201; with another payload a 409 naming the key', async () => {
    const at = Date.now() + 7_200_000;
    const first = message({ idempotencyKey: 'order-1002', scheduledAt: new Date(at).toISOString(), variables: { name: 'Ann', day: 'Monday' } });
    expect((await call('POST', '/followups', first)).status).toBe(201);
    // Same request again, the time written as local time in a zone without DST (UTC+05:30) and
    // the variables in another order.
    const kolkata = new Date(at + 330 * 60_000).toISOString().slice(0, 23);
    const again = await call('POST', '/followups', { ...first, scheduledAt: kolkata, timezone: 'Asia/Kolkata', variables: { day: 'Monday', name: 'Ann' } });
    expect(again).toEqual({ status: 201, body: { scheduled: 0, duplicates: 1, ids: [] } });

    const before = await snapshot();
    const changed = await call('POST', '/followups', { ...first, template: 'Something else entirely' });
    expect(changed.status).toBe(409);
    expect(changed.body).toEqual(expect.objectContaining({ field: 'idempotencyKey', keys: ['order-1002'] }));
    expect(changed.body.error).toMatch(/order-1002/);
    // In a batch: the conflicting key fails the whole batch; its new message is not kept either.
    const batch = await call('POST', '/followups', { messages: [message({ idempotencyKey: 'order-1003' }), { ...first, recipient: 'bob' }] });
    expect(batch.status).toBe(409);
    expect(batch.body.keys).toEqual(['order-1002']);
    expect(await snapshot()).toBe(before);
  });

  it('refuses callers the keys crm-worker makes for itself, naming the field, and writes nothing', async () => {
    const before = await snapshot();
    for (const key of [
      'campaign:launch:c1',
      'nurture:e1:1',
      'dunning:inv-1:3',
      'appt:a1:24h',
      'lead-reminder:l1:0:1',
      'auto-followup:ta:l1:1800s',
      'order-9@r1700000000',
    ]) {
      const response = await call('POST', '/followups', message({ idempotencyKey: key }));
      expect(response.status).toBe(400);
      expect(response.body.field).toBe('idempotencyKey');
      expect(response.body.error).toMatch(/reserved/);
    }
    const batch = await call('POST', '/followups', { messages: [message({ idempotencyKey: 'fine-1' }), message({ idempotencyKey: 'campaign:x:y' })] });
    expect(batch.status).toBe(400);
    expect(batch.body.field).toBe('messages[1].idempotencyKey');
    expect(await snapshot()).toBe(before);
  });
});
