import type { Database } from '../../src/db/database';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'crm-contract-test-key-0123456789';
const DAY = 86_400_000;

/**
 * PUT/GET /api/v1/invoices on a real worker process over real PostgreSQL, every answer checked
 * against the served OpenAPI document: a new open invoice has its dunning reminders at once, the
 * same PUT twice changes nothing, paid or void ends the dunning, changed terms and closed invoices
 * are 409s, bad fields 400s — and POST /api/invoices works as before beside it.
 */
describe('data contract: invoices over /api/v1', () => {
  const fixture = useProcessFixture();
  // Any valid instant: these fields are refused for what they are, not for their date.
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  let worker: WorkerProcess;
  let db: Database;
  // Whole seconds, two days ahead: every reminder (1 and 3 days after) lies in the future.
  const dueAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * DAY);

  beforeAll(async () => {
    worker = fixture.spawn('crm-contract-invoices', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY, DUNNING_REMINDER_DAYS: '1,3' });
    await waitUntilStarted(worker);
    db = await openMigratedDatabase('postgres', fixture.db.url);
    for (const t of ['t1', 't2']) expect((await call('PUT', `/v1/tenants/${t}`, { name: t, status: 'active' })).status).toBe(201);
    for (const [c, t] of [
      ['c1', 't1'],
      ['c2', 't1'],
      ['c9', 't2'],
    ])
      expect((await call('PUT', `/v1/contacts/${c}`, { tenantId: t, email: `${c}@example.com` })).status).toBe(201);
  });
  afterAll(async () => {
    await db?.close();
  });

  const call = v1Client(() => worker, API_KEY);
  const invoiceRows = async () => (await db.query('SELECT * FROM invoices ORDER BY id')).rows;
  const reminders = async (id: string) =>
    (
      await db.query<{ idempotency_key: string; status: string; scheduled_at: Date }>(
        `SELECT idempotency_key, status, scheduled_at FROM scheduled_messages WHERE idempotency_key LIKE $1 ORDER BY id`,
        [`dunning:${id}:%`],
      )
    ).rows.map((r) => [r.idempotency_key, r.status, new Date(r.scheduled_at).toISOString()]);
  const fieldsOf = (body: { errors: { field: string }[] }) => body.errors.map((e) => e.field).sort();
  const after = (days: number) => new Date(dueAt.getTime() + days * DAY).toISOString();
  const bill = { tenantId: 't1', contactId: 'c1', amountCents: 12_500, dueAt: dueAt.toISOString(), paymentLink: 'https://pay.example/i1', status: 'open' };

  it('creates an open invoice with its dunning reminders; the same PUT twice changes nothing', async () => {
    const first = await call('PUT', '/v1/invoices/i1', bill);
    expect(first.status).toBe(201);
    expect(first.body).toEqual(
      expect.objectContaining({ id: 'i1', amountCents: 12_500, currency: 'USD', channel: 'email', status: 'open', paidAt: null, outcome: 'created' }),
    );
    expect(first.body.dunningScheduledAt).toEqual(expect.any(String));
    expect(await reminders('i1')).toEqual([
      ['dunning:i1:1', 'scheduled', after(1)],
      ['dunning:i1:3', 'scheduled', after(3)],
    ]);
    const rows = await invoiceRows();
    const again = await call('PUT', '/v1/invoices/i1', { ...bill, currency: 'USD', channel: 'email' });
    expect(again).toEqual(expect.objectContaining({ status: 200, body: expect.objectContaining({ outcome: 'unchanged' }) }));
    expect(await invoiceRows()).toEqual(rows);
    expect(await reminders('i1')).toHaveLength(2);
  });

  it('changed terms are a 409 naming each, since the reminders already carry them', async () => {
    const rows = await invoiceRows();
    const changed = await call('PUT', '/v1/invoices/i1', { ...bill, amountCents: 9_900, paymentLink: 'https://pay.example/other' });
    expect(changed.status).toBe(409);
    expect(fieldsOf(changed.body)).toEqual(['amountCents', 'paymentLink']);
    expect(await invoiceRows()).toEqual(rows);
  });

  it('paid ends the dunning (paidAt as given); a paid invoice does not change any more', async () => {
    const paidAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000).toISOString();
    const paid = await call('PUT', '/v1/invoices/i1', { ...bill, status: 'paid', paidAt });
    expect(paid.body).toEqual(
      expect.objectContaining({ outcome: 'updated', status: 'paid', paidAt, dunningClosedAt: expect.any(String), recoveredByDunning: false }),
    );
    expect((await reminders('i1')).map((r) => r[1])).toEqual(['cancelled', 'cancelled']);
    expect((await call('PUT', '/v1/invoices/i1', { ...bill, status: 'paid' })).body.outcome).toBe('unchanged');
    expect((await call('PUT', '/v1/invoices/i1', { ...bill, status: 'paid', paidAt })).body.outcome).toBe('unchanged');
    const reopen = await call('PUT', '/v1/invoices/i1', { ...bill, status: 'open' });
    expect(reopen.status).toBe(409);
    expect(fieldsOf(reopen.body)).toEqual(['status']);
    expect((await call('GET', '/v1/invoices/i1')).body).toEqual(expect.objectContaining({ status: 'paid', paidAt }));
  });

  it('void ends the dunning; an invoice created paid or void gets no reminders', async () => {
    expect((await call('PUT', '/v1/invoices/i2', { ...bill, contactId: 'c2' })).status).toBe(201);
    const voided = await call('PUT', '/v1/invoices/i2', { ...bill, contactId: 'c2', status: 'void' });
    expect(voided.body).toEqual(expect.objectContaining({ outcome: 'updated', status: 'void', paidAt: null }));
    expect((await reminders('i2')).map((r) => r[1])).toEqual(['cancelled', 'cancelled']);
    const createdPaid = await call('PUT', '/v1/invoices/i3', { ...bill, status: 'paid' });
    expect(createdPaid.body).toEqual(expect.objectContaining({ outcome: 'created', status: 'paid', paidAt: expect.any(String), dunningScheduledAt: null }));
    expect(await reminders('i3')).toEqual([]);
  });

  it('refuses bad fields with a 400 naming each, unknown ids with 404, and ids of another tenant or contact with 409', async () => {
    const rows = await invoiceRows();
    const bad = await call('PUT', '/v1/invoices/i9', {
      tenantId: 't1',
      contactId: 'c1',
      amountCents: 1.5,
      currency: 'usd',
      dueAt: 'tomorrow',
      paymentLink: 'ftp://x',
      status: 'open',
      paidAt: tomorrow,
    });
    expect(bad.status).toBe(400);
    expect(bad.type).toMatch(/^application\/problem\+json/);
    expect(fieldsOf(bad.body)).toEqual(['amountCents', 'currency', 'dueAt', 'paymentLink']);
    // paidAt is checked against status once the fields themselves are valid.
    expect(fieldsOf((await call('PUT', '/v1/invoices/i9', { ...bill, paidAt: tomorrow })).body)).toEqual(['paidAt']);
    expect(fieldsOf((await call('PUT', '/v1/invoices/i9', { ...bill, tenantId: 'nobody' })).body)).toEqual(['tenantId']);
    expect(fieldsOf((await call('PUT', '/v1/invoices/i9', { ...bill, contactId: 'c9' })).body)).toEqual(['contactId']);

    const unknown = await call('GET', '/v1/invoices/nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual(expect.objectContaining({ status: 404, title: 'Not found' }));
    const otherTenant = await call('PUT', '/v1/invoices/i2', { ...bill, tenantId: 't2', contactId: 'c9', status: 'void' });
    expect(otherTenant.status).toBe(409);
    expect(fieldsOf(otherTenant.body)).toEqual(['tenantId']);
    const otherContact = await call('PUT', '/v1/invoices/i2', { ...bill, status: 'void' });
    expect(otherContact.status).toBe(409);
    expect(fieldsOf(otherContact.body)).toEqual(['contactId']);
    expect(await invoiceRows()).toEqual(rows);
  });

  it('POST /api/invoices still creates an invoice (its id generated), which GET /api/v1 then shows', async () => {
    const { status: _status, ...older } = bill;
    const created = await call('POST', '/invoices', older);
    expect(created.status).toBe(201);
    expect(await reminders(created.body.id)).toHaveLength(2);
    expect((await call('GET', `/v1/invoices/${created.body.id}`)).body).toEqual(
      expect.objectContaining({ id: created.body.id, status: 'open', amountCents: 12_500 }),
    );
  });
});
