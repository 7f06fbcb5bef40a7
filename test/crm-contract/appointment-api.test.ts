import type { Database } from '../../src/db/database';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'crm-contract-test-key-0123456789';
const HOUR = 3_600_000;

/**
 * PUT/GET /api/v1/appointments on a real worker process over real PostgreSQL, every answer
 * checked against the served OpenAPI document: the same PUT twice is one row and one set of
 * reminders; a move, a new title or channel replaces the waiting reminders; leaving `scheduled`
 * cancels them; a closed appointment, another tenant's or contact's id is a 409; and the older
 * POST /api/appointments works as before beside it.
 */
describe('data contract: appointments over /api/v1', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let db: Database;
  // Whole seconds, two days ahead: both reminders lie in the future.
  const startsAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 48 * HOUR);

  beforeAll(async () => {
    worker = fixture.spawn('crm-contract-appointments', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY });
    await waitUntilStarted(worker);
    db = await openMigratedDatabase('postgres', fixture.db.url);
    for (const t of ['t1', 't2']) expect((await call('PUT', `/v1/tenants/${t}`, { name: t, status: 'active' })).status).toBe(201);
    for (const [c, t] of [
      ['c1', 't1'],
      ['c2', 't1'],
      ['c9', 't2'],
    ]) {
      expect((await call('PUT', `/v1/contacts/${c}`, { tenantId: t, email: `${c}@example.com`, phone: '+14155550100' })).status).toBe(201);
    }
  });
  afterAll(async () => {
    await db?.close();
  });

  const call = v1Client(() => worker, API_KEY);
  const appointmentRows = async () => (await db.query('SELECT * FROM appointments ORDER BY id')).rows;
  const reminders = async (id: string) =>
    (
      await db.query<{ idempotency_key: string; status: string; scheduled_at: Date; channel: string }>(
        `SELECT idempotency_key, status, scheduled_at, channel FROM scheduled_messages WHERE idempotency_key LIKE $1 ORDER BY id`,
        [`appt:${id}:%`],
      )
    ).rows.map((r) => [r.idempotency_key, r.status, new Date(r.scheduled_at).toISOString(), r.channel]);
  const fieldsOf = (body: { errors: { field: string }[] }) => body.errors.map((e) => e.field).sort();
  const before = (at: Date, hours: number) => new Date(at.getTime() - hours * HOUR).toISOString();
  const visit = { tenantId: 't1', contactId: 'c1', startsAt: startsAt.toISOString(), title: 'Check-up', status: 'scheduled' };

  it('creates an appointment with its reminders; the same PUT twice changes nothing', async () => {
    const first = await call('PUT', '/v1/appointments/a1', visit);
    expect(first.status).toBe(201);
    expect(first.body).toEqual(expect.objectContaining({ id: 'a1', title: 'Check-up', channel: 'email', status: 'scheduled', version: 0, outcome: 'created' }));
    expect(await reminders('a1')).toEqual([
      ['appt:a1:24h', 'scheduled', before(startsAt, 24), 'email'],
      ['appt:a1:3h', 'scheduled', before(startsAt, 3), 'email'],
    ]);
    const rows = await appointmentRows();
    const again = await call('PUT', '/v1/appointments/a1', { ...visit, startsAt: startsAt.toISOString().replace('Z', '+00:00') });
    expect(again).toEqual(expect.objectContaining({ status: 200, body: expect.objectContaining({ outcome: 'unchanged' }) }));
    expect(await appointmentRows()).toEqual(rows);
    expect(await reminders('a1')).toHaveLength(2);
  });

  it('a new time or channel moves the reminders; leaving "scheduled" cancels those still waiting', async () => {
    const later = new Date(startsAt.getTime() + 26 * HOUR);
    const moved = await call('PUT', '/v1/appointments/a1', { ...visit, startsAt: later.toISOString(), channel: 'sms' });
    expect(moved.body).toEqual(expect.objectContaining({ outcome: 'updated', version: 1, channel: 'sms', startsAt: later.toISOString() }));
    expect(await reminders('a1')).toEqual([
      ['appt:a1:24h', 'cancelled', before(startsAt, 24), 'email'],
      ['appt:a1:3h', 'cancelled', before(startsAt, 3), 'email'],
      ['appt:a1:v1:24h', 'scheduled', before(later, 24), 'sms'],
      ['appt:a1:v1:3h', 'scheduled', before(later, 3), 'sms'],
    ]);

    const cancelled = await call('PUT', '/v1/appointments/a1', { ...visit, startsAt: later.toISOString(), channel: 'sms', status: 'cancelled' });
    expect(cancelled.body).toEqual(expect.objectContaining({ outcome: 'updated', version: 1, status: 'cancelled' }));
    expect((await reminders('a1')).map((r) => r[1])).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
    expect((await call('GET', '/v1/appointments/a1')).body).toEqual(expect.objectContaining({ status: 'cancelled', channel: 'sms' }));

    // Closed: the same state again is unchanged; any other is refused.
    expect((await call('PUT', '/v1/appointments/a1', { ...visit, startsAt: later.toISOString(), channel: 'sms', status: 'cancelled' })).body.outcome).toBe(
      'unchanged',
    );
    const reopen = await call('PUT', '/v1/appointments/a1', { ...visit, startsAt: later.toISOString(), channel: 'sms' });
    expect(reopen.status).toBe(409);
    expect(fieldsOf(reopen.body)).toEqual(['status']);
  });

  it('an appointment created completed gets no reminders; one completed later loses those still waiting', async () => {
    expect((await call('PUT', '/v1/appointments/a2', { ...visit, status: 'completed' })).status).toBe(201);
    expect(await reminders('a2')).toEqual([]);
    expect((await call('PUT', '/v1/appointments/a3', { ...visit, contactId: 'c2' })).status).toBe(201);
    const kept = await call('PUT', '/v1/appointments/a3', { ...visit, contactId: 'c2', status: 'completed' });
    expect(kept.body).toEqual(expect.objectContaining({ outcome: 'updated', status: 'completed', version: 0 }));
    expect((await reminders('a3')).map((r) => r[1])).toEqual(['cancelled', 'cancelled']);
  });

  it('refuses bad fields with a 400 naming each, unknown ids with 404, and ids of another tenant or contact with 409', async () => {
    const rows = await appointmentRows();
    const bad = await call('PUT', '/v1/appointments/a9', {
      tenantId: 't1',
      contactId: '',
      startsAt: '2030-02-30T10:00:00Z',
      channel: 'fax',
      status: 'done',
      extra: 1,
    });
    expect(bad.status).toBe(400);
    expect(bad.type).toMatch(/^application\/problem\+json/);
    expect(fieldsOf(bad.body)).toEqual(['channel', 'contactId', 'extra', 'startsAt', 'status']);
    expect(fieldsOf((await call('PUT', '/v1/appointments/a9', { ...visit, tenantId: 'nobody' })).body)).toEqual(['tenantId']);
    const foreign = await call('PUT', '/v1/appointments/a9', { ...visit, contactId: 'c9' });
    expect(foreign.status).toBe(400);
    expect(fieldsOf(foreign.body)).toEqual(['contactId']);

    const unknown = await call('GET', '/v1/appointments/nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual(expect.objectContaining({ status: 404, title: 'Not found' }));

    const otherTenant = await call('PUT', '/v1/appointments/a2', { ...visit, tenantId: 't2', contactId: 'c9', status: 'completed' });
    expect(otherTenant.status).toBe(409);
    expect(fieldsOf(otherTenant.body)).toEqual(['tenantId']);
    const otherContact = await call('PUT', '/v1/appointments/a2', { ...visit, contactId: 'c2', status: 'completed' });
    expect(otherContact.status).toBe(409);
    expect(fieldsOf(otherContact.body)).toEqual(['contactId']);
    expect(await appointmentRows()).toEqual(rows);
    expect(await reminders('a9')).toEqual([]);
  });

  it('POST /api/appointments still creates an appointment (its id generated), which GET /api/v1 then shows', async () => {
    const created = await call('POST', '/appointments', { tenantId: 't1', contactId: 'c2', startsAt: startsAt.toISOString() });
    expect(created.status).toBe(201);
    expect(await reminders(created.body.id)).toHaveLength(2);
    expect((await call('GET', `/v1/appointments/${created.body.id}`)).body).toEqual(
      expect.objectContaining({ id: created.body.id, contactId: 'c2', title: 'Appointment', status: 'scheduled', version: 0 }),
    );
  });
});
