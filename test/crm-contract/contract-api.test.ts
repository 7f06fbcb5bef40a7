import type { Database } from '../../src/db/database';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'crm-contract-test-key-0123456789';

/**
 * The data contract's upserts on a real worker process over real PostgreSQL: the same PUT twice
 * is one identical row, a changed field updates it, a bad field is a 400 problem naming it with
 * nothing written, an unknown id is a 404 problem, and deleting a contact cancels the messages
 * scheduled for it through the delivery API.
 */
describe('data contract: tenants and contacts over /api/v1', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let db: Database;

  beforeAll(async () => {
    worker = fixture.spawn('crm-contract', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY });
    await waitUntilStarted(worker);
    db = await openMigratedDatabase('postgres', fixture.db.url);
  });
  afterAll(async () => {
    await db?.close();
  });

  const call = v1Client(() => worker, API_KEY);
  const contactRows = async () => (await db.query('SELECT * FROM contacts ORDER BY id')).rows;
  const ann = {
    tenantId: 't1',
    name: 'Ann',
    email: 'ann@example.com',
    phone: '+14155550100',
    timezone: 'Europe/Berlin',
    tags: ['vip'],
    consent: { email: true, sms: false },
  };

  it('upserts a tenant idempotently and updates a changed field', async () => {
    const body = { name: 'Tenant One', status: 'active', timezone: 'America/New_York' };
    const first = await call('PUT', '/v1/tenants/t1', body);
    expect(first.status).toBe(201);
    expect(first.body).toEqual(expect.objectContaining({ id: 't1', outcome: 'created', timezone: 'America/New_York', followupEnabled: true }));
    const rowBefore = (await db.query(`SELECT * FROM tenants WHERE id = 't1'`)).rows;

    const again = await call('PUT', '/v1/tenants/t1', body);
    expect(again).toEqual(expect.objectContaining({ status: 200, body: expect.objectContaining({ outcome: 'unchanged' }) }));
    expect((await db.query(`SELECT * FROM tenants WHERE id = 't1'`)).rows).toEqual(rowBefore);

    const changed = await call('PUT', '/v1/tenants/t1', { ...body, followupEnabled: false });
    expect(changed.body).toEqual(expect.objectContaining({ outcome: 'updated', followupEnabled: false }));
    expect((await db.query(`SELECT followup_enabled FROM tenants WHERE id = 't1'`)).rows).toEqual([{ followup_enabled: false }]);
    await call('PUT', '/v1/tenants/t1', body);
  });

  it('upserts a contact: the same PUT twice leaves one identical row, a change updates it', async () => {
    const first = await call('PUT', '/v1/contacts/c1', ann);
    expect(first.status).toBe(201);
    expect(first.body).toEqual(expect.objectContaining({ id: 'c1', tenantId: 't1', outcome: 'created', consent: { email: true, sms: false } }));
    expect(first.body.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const before = await contactRows();
    expect(before).toHaveLength(1);

    const again = await call('PUT', '/v1/contacts/c1', ann);
    expect(again).toEqual(expect.objectContaining({ status: 200, body: expect.objectContaining({ outcome: 'unchanged' }) }));
    expect(await contactRows()).toEqual(before);

    const moved = await call('PUT', '/v1/contacts/c1', { ...ann, email: 'ann@new.example.com' });
    expect(moved).toEqual(expect.objectContaining({ status: 200, body: expect.objectContaining({ outcome: 'updated', email: 'ann@new.example.com' }) }));
    const after = await contactRows();
    expect(after).toHaveLength(1);
    expect(after[0]).toEqual(expect.objectContaining({ email: 'ann@new.example.com', timezone: 'Europe/Berlin', tags: ['vip'] }));
    expect(new Date(after[0]!.updated_at as string).getTime()).toBeGreaterThanOrEqual(new Date(before[0]!.updated_at as string).getTime());

    // PUT replaces: a field left out is stored empty.
    await call('PUT', '/v1/contacts/c1', { tenantId: 't1', name: 'Ann' });
    expect((await contactRows())[0]).toEqual(expect.objectContaining({ email: null, phone: null, tags: [], consent: {} }));
    expect((await call('GET', '/v1/contacts/c1')).body).toEqual(expect.objectContaining({ id: 'c1', name: 'Ann', email: null }));
  });

  it('refuses bad fields with a 400 problem naming each, and writes nothing', async () => {
    const before = await contactRows();
    const bad = await call('PUT', '/v1/contacts/c1', { ...ann, email: 'not-an-address', timezone: 'Mars/Olympus', consent: { sms: 'yes' }, extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.type).toMatch(/^application\/problem\+json/);
    expect(bad.body).toEqual(expect.objectContaining({ type: expect.any(String), title: 'Invalid input', status: 400, detail: expect.any(String) }));
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['consent.sms', 'email', 'extra', 'timezone']);

    const unknownTenant = await call('PUT', '/v1/contacts/c9', { ...ann, tenantId: 'nobody' });
    expect(unknownTenant.status).toBe(400);
    expect(unknownTenant.body.errors).toEqual([expect.objectContaining({ field: 'tenantId' })]);

    const malformed = await call('PUT', '/v1/contacts/c9', undefined, '{"tenantId": ');
    expect(malformed.status).toBe(400);
    expect(malformed.type).toMatch(/^application\/problem\+json/);

    const badTenant = await call('PUT', '/v1/tenants/t2', { name: '', status: 'sleeping' });
    expect(badTenant.status).toBe(400);
    expect(badTenant.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['name', 'status']);
    expect(await contactRows()).toEqual(before);
    expect((await db.query(`SELECT id FROM tenants WHERE id = 't2'`)).rows).toEqual([]);
  });

  it('answers 404 problems for unknown ids and 409 for a contact of another tenant', async () => {
    for (const [method, path] of [
      ['GET', '/v1/contacts/nobody'],
      ['DELETE', '/v1/contacts/nobody'],
      ['GET', '/v1/tenants/nobody'],
    ] as const) {
      const answer = await call(method, path);
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual(expect.objectContaining({ status: 404, title: 'Not found' }));
    }
    await call('PUT', '/v1/tenants/t2', { name: 'Tenant Two', status: 'trial' });
    const other = await call('PUT', '/v1/contacts/c1', { tenantId: 't2', name: 'Stolen' });
    expect(other.status).toBe(409);
    expect((await contactRows())[0]).toEqual(expect.objectContaining({ tenant_id: 't1', name: 'Ann' }));
  });

  it('deleting a contact cancels its pending messages in the same transaction, and only its own', async () => {
    await call('PUT', '/v1/contacts/c2', { tenantId: 't1', name: 'Bob', email: 'bob@example.com' });
    await call('PUT', '/v1/contacts/c3', { tenantId: 't1', name: 'Cy', email: 'cy@example.com' });
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const message = (contactId: string, key: string) => ({
      tenantId: 't1',
      contactId,
      channel: 'log',
      recipient: contactId,
      scheduledAt: at,
      template: 'Hi',
      idempotencyKey: key,
    });
    for (const [contact, key] of [
      ['c2', 'bob-1'],
      ['c2', 'bob-2'],
      ['c3', 'cy-1'],
    ] as const) {
      expect((await call('POST', '/followups', message(contact, key))).status).toBe(201);
    }
    const deleted = await call('DELETE', '/v1/contacts/c2');
    expect(deleted).toEqual(expect.objectContaining({ status: 200, body: { id: 'c2', deleted: true, messagesCancelled: 2, callsCancelled: 0 } }));
    const statuses = (await db.query(`SELECT idempotency_key, status FROM scheduled_messages ORDER BY idempotency_key`)).rows;
    expect(statuses).toEqual([
      { idempotency_key: 'bob-1', status: 'cancelled' },
      { idempotency_key: 'bob-2', status: 'cancelled' },
      { idempotency_key: 'cy-1', status: 'scheduled' },
    ]);
    expect((await call('GET', '/v1/contacts/c2')).status).toBe(404);
  });

  it('batch: a result per item; valid items written, bad ones named by index and field', async () => {
    const answer = await call('POST', '/v1/contacts/batch', {
      contacts: [
        { id: 'b1', tenantId: 't1', email: 'b1@example.com' },
        { id: 'b2', tenantId: 't1', phone: '12345' },
        { id: 'b1', tenantId: 't1' },
        { id: 'b3', tenantId: 'nobody' },
        { id: 'c3', tenantId: 't1', name: 'Cy', email: 'cy@example.com' },
      ],
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(expect.objectContaining({ created: 1, updated: 0, unchanged: 1, failed: 3 }));
    expect(answer.body.results).toEqual([
      { index: 0, id: 'b1', outcome: 'created' },
      { index: 1, outcome: 'failed', errors: [expect.objectContaining({ field: 'contacts[1].phone' })] },
      { index: 2, id: 'b1', outcome: 'failed', errors: [expect.objectContaining({ field: 'contacts[2].id' })] },
      { index: 3, id: 'b3', outcome: 'failed', errors: [expect.objectContaining({ field: 'contacts[3].tenantId' })] },
      { index: 4, id: 'c3', outcome: 'unchanged' },
    ]);
    expect((await db.query(`SELECT id FROM contacts WHERE id LIKE 'b%' ORDER BY id`)).rows).toEqual([{ id: 'b1' }]);
    const tooMany = await call('POST', '/v1/contacts/batch', { contacts: [] });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors).toEqual([expect.objectContaining({ field: 'contacts' })]);
  });
});
