import type { Database } from '../../src/db/database';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'crm-contract-test-key-0123456789';

/**
 * PUT/GET /api/v1/leads on a real worker process over real PostgreSQL, every answer checked
 * against the served OpenAPI document: idempotent upsert, converted_at kept while converted,
 * 400 naming fields (unknown tenant or contact included), 404, 409 for another tenant's or
 * another contact's lead, and the older conversion route writing through the same store.
 */
describe('data contract: leads over /api/v1', () => {
  const fixture = useProcessFixture();
  // Any valid instant: these fields are refused for what they are, not for their date.
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  let worker: WorkerProcess;
  let db: Database;

  beforeAll(async () => {
    worker = fixture.spawn('crm-contract-leads', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY });
    await waitUntilStarted(worker);
    db = await openMigratedDatabase('postgres', fixture.db.url);
    for (const t of ['t1', 't2']) expect((await call('PUT', `/v1/tenants/${t}`, { name: t, status: 'active' })).status).toBe(201);
    for (const [c, t] of [
      ['c1', 't1'],
      ['c2', 't1'],
      ['c9', 't2'],
    ])
      expect((await call('PUT', `/v1/contacts/${c}`, { tenantId: t })).status).toBe(201);
  });
  afterAll(async () => {
    await db?.close();
  });

  const call = v1Client(() => worker, API_KEY);
  const leadRows = async () => (await db.query('SELECT * FROM leads ORDER BY id')).rows;
  const fieldsOf = (body: { errors: { field: string }[] }) => body.errors.map((e) => e.field).sort();

  it('upserts a lead: the same PUT twice leaves one identical row, a changed status updates it', async () => {
    const first = await call('PUT', '/v1/leads/l1', { tenantId: 't1', contactId: 'c1', status: 'open' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual(expect.objectContaining({ id: 'l1', tenantId: 't1', contactId: 'c1', status: 'open', convertedAt: null, outcome: 'created' }));
    const before = await leadRows();
    expect(before).toHaveLength(1);

    const again = await call('PUT', '/v1/leads/l1', { tenantId: 't1', contactId: 'c1', status: 'open' });
    expect(again).toEqual(expect.objectContaining({ status: 200, body: expect.objectContaining({ outcome: 'unchanged' }) }));
    expect(await leadRows()).toEqual(before);

    const converted = await call('PUT', '/v1/leads/l1', { tenantId: 't1', contactId: 'c1', status: 'converted' });
    expect(converted).toEqual(expect.objectContaining({ status: 200, body: expect.objectContaining({ outcome: 'updated', status: 'converted' }) }));
    expect(converted.body.convertedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const convertedRow = (await leadRows())[0]!;
    expect(convertedRow).toEqual(expect.objectContaining({ status: 'converted', created_at: before[0]!.created_at }));
    expect(new Date(convertedRow.updated_at as string).getTime()).toBeGreaterThanOrEqual(new Date(before[0]!.updated_at as string).getTime());

    // Converted again: nothing changes, converted_at included.
    expect((await call('PUT', '/v1/leads/l1', { tenantId: 't1', contactId: 'c1', status: 'converted' })).body.outcome).toBe('unchanged');
    expect(await leadRows()).toEqual([convertedRow]);

    const lost = await call('PUT', '/v1/leads/l1', { tenantId: 't1', contactId: 'c1', status: 'lost' });
    expect(lost.body).toEqual(expect.objectContaining({ outcome: 'updated', status: 'lost', convertedAt: null }));
    expect((await call('GET', '/v1/leads/l1')).body).toEqual(expect.objectContaining({ id: 'l1', status: 'lost', convertedAt: null, lastReplyAt: null }));
  });

  it('refuses bad fields with a 400 problem naming each, and writes nothing', async () => {
    const before = await leadRows();
    const bad = await call('PUT', '/v1/leads/l2', { tenantId: '', status: 'won', lastReplyAt: tomorrow });
    expect(bad.status).toBe(400);
    expect(bad.type).toMatch(/^application\/problem\+json/);
    expect(fieldsOf(bad.body)).toEqual(['contactId', 'lastReplyAt', 'status', 'tenantId']);

    const unknownTenant = await call('PUT', '/v1/leads/l2', { tenantId: 'nobody', contactId: 'c1', status: 'open' });
    expect(unknownTenant.status).toBe(400);
    expect(fieldsOf(unknownTenant.body)).toEqual(['tenantId']);
    const unknownContact = await call('PUT', '/v1/leads/l2', { tenantId: 't1', contactId: 'nobody', status: 'open' });
    expect(unknownContact.status).toBe(400);
    expect(fieldsOf(unknownContact.body)).toEqual(['contactId']);
    // A contact of another tenant is as unknown to this tenant's lead as one that does not exist.
    const foreignContact = await call('PUT', '/v1/leads/l2', { tenantId: 't1', contactId: 'c9', status: 'open' });
    expect(foreignContact.status).toBe(400);
    expect(fieldsOf(foreignContact.body)).toEqual(['contactId']);
    expect(await leadRows()).toEqual(before);
  });

  it('answers 404 for an unknown lead and 409 for a lead of another tenant or another contact', async () => {
    const unknown = await call('GET', '/v1/leads/nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual(expect.objectContaining({ status: 404, title: 'Not found' }));

    const before = await leadRows();
    const otherTenant = await call('PUT', '/v1/leads/l1', { tenantId: 't2', contactId: 'c9', status: 'open' });
    expect(otherTenant.status).toBe(409);
    expect(fieldsOf(otherTenant.body)).toEqual(['tenantId']);
    const otherContact = await call('PUT', '/v1/leads/l1', { tenantId: 't1', contactId: 'c2', status: 'open' });
    expect(otherContact.status).toBe(409);
    expect(fieldsOf(otherContact.body)).toEqual(['contactId']);
    expect(await leadRows()).toEqual(before);
  });

  it('the older conversion route writes through the same store: status, converted_at and updated_at move together', async () => {
    expect((await call('PUT', '/v1/leads/l3', { tenantId: 't1', contactId: 'c2', status: 'open' })).status).toBe(201);
    const created = (await call('GET', '/v1/leads/l3')).body;
    const converted = await call('POST', '/leads/l3/convert');
    expect(converted).toEqual(expect.objectContaining({ status: 200, body: expect.objectContaining({ converted: true }) }));
    const after = (await call('GET', '/v1/leads/l3')).body;
    expect(after).toEqual(expect.objectContaining({ status: 'converted', convertedAt: expect.any(String) }));
    expect(new Date(after.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(created.updatedAt).getTime());
    // The CRM's PUT agrees with the conversion: nothing to change, converted_at kept.
    const same = await call('PUT', '/v1/leads/l3', { tenantId: 't1', contactId: 'c2', status: 'converted' });
    expect(same.body).toEqual(expect.objectContaining({ outcome: 'unchanged', convertedAt: after.convertedAt }));
  });

  it('a deleted contact takes its leads with it', async () => {
    expect((await call('DELETE', '/v1/contacts/c2')).status).toBe(200);
    expect((await call('GET', '/v1/leads/l3')).status).toBe(404);
  });
});
