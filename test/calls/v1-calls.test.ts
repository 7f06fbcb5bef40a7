import { startTelephonySink } from '../fakes/telephony-sink';
import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'v1-calls-test-key-0123456789';
const allDay = Object.fromEntries(
  ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'].map((d) => [d, [{ opens: '00:00', closes: '24:00' }]]),
);

/**
 * The call queue under /api/v1 on a real worker process whose call-scheduler rings a telephony
 * receiver on loopback every second: settings, enqueue, read, the list page by page, outcomes
 * (with the stale-attempt 409), cancel; every answer checked against the served OpenAPI document,
 * and refused requests change nothing.
 */
describe('/api/v1/calls and /api/v1/call-settings', () => {
  const fixture = useProcessFixture();
  let sink: Awaited<ReturnType<typeof startTelephonySink>>;
  let worker: WorkerProcess;

  beforeAll(async () => {
    sink = await startTelephonySink();
    worker = fixture.spawn('v1-calls', {
      ...fixture.serviceEnv(),
      API_KEY,
      TELEPHONY_WEBHOOK_URL: sink.url,
      CALL_SCHEDULER_CRON: '* * * * * *',
      CALL_RETRY_SPACING_SECONDS: '1',
    });
    await waitUntilStarted(worker);
  });
  afterAll(async () => sink?.close());

  const call = v1Client(() => worker, API_KEY);
  const sql = <R extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);
  const inADay = () => new Date(Date.now() + 86_400_000).toISOString();

  it('settings: read, replace, 404 for an unknown tenant, 400 naming the field and nothing changed', async () => {
    expect((await call('PUT', '/v1/tenants/acme', { name: 'Acme', status: 'active', timezone: 'America/New_York' })).status).toBe(201);
    expect((await call('GET', '/v1/call-settings/acme')).body).toMatchObject({ tenantId: 'acme', holidays: [], maxAttempts: null, hours: { monday: [] } });
    const put = await call('PUT', '/v1/call-settings/acme', { hours: allDay, holidays: ['2031-12-25'], maxAttempts: 3 });
    expect(put).toMatchObject({ status: 200, body: { hours: { sunday: [{ opens: '00:00', closes: '24:00' }] }, holidays: ['2031-12-25'], maxAttempts: 3 } });

    const bad = await call('PUT', '/v1/call-settings/acme', { hours: { monday: [{ opens: '18:00', closes: '09:00' }] }, maxAttempts: 0 });
    expect(bad).toMatchObject({ status: 400, type: expect.stringContaining('application/problem+json') });
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['hours.monday[0].closes', 'maxAttempts']);
    expect((await call('PUT', '/v1/call-settings/acme', { ...put.body, tenantId: undefined, extra: 1 })).body).toMatchObject({ errors: [{ field: 'extra' }] });
    expect((await call('GET', '/v1/call-settings/acme')).body).toEqual(put.body);

    expect((await call('GET', '/v1/call-settings/nobody')).status).toBe(404);
    expect((await call('PUT', '/v1/call-settings/nobody', { hours: allDay })).status).toBe(404);
  });

  it('enqueues, rings, takes outcomes for the current attempt only, cancels only what waits', async () => {
    const created = await call('POST', '/v1/calls', { tenantId: 'acme', contactId: 'c-1', phone: '+14155550100', timezone: 'Asia/Kolkata' });
    expect(created).toMatchObject({ status: 201, body: { status: 'queued', attempts: 0, maxAttempts: 3, phone: '+14155550100', timezone: 'Asia/Kolkata' } });
    const id: string = created.body.id;

    const dialing = await waitFor('first ring recorded', async () => {
      const one = await call('GET', `/v1/calls/${id}`);
      return one.body.providerCallId ? one.body : undefined;
    });
    expect(dialing).toMatchObject({ status: 'dialing', attempts: 1, providerCallId: `prov-${id}-1` });
    expect(new Date(dialing.placedAt).getTime()).not.toBeNaN();

    const noAnswer = await call('POST', `/v1/calls/${id}/outcome`, { outcome: 'no-answer', attempt: 1 });
    expect(noAnswer).toMatchObject({ status: 200, body: { status: 'queued', lastOutcome: 'no-answer' } });
    // The ring is recorded in two steps (the attempt counted, then the provider's id once the
    // telephony side answers): wait for both, or the read below could land between them.
    await waitFor('second ring recorded', async () => {
      const one = (await call('GET', `/v1/calls/${id}`)).body;
      return one.attempts === 2 && one.providerCallId === `prov-${id}-2`;
    });

    const before = (await call('GET', `/v1/calls/${id}`)).body;
    const stale = await call('POST', `/v1/calls/${id}/outcome`, { outcome: 'completed', attempt: 1 });
    expect(stale).toMatchObject({ status: 409, body: { errors: [{ field: 'attempt' }] } });
    expect((await call('POST', `/v1/calls/${id}/outcome`, { outcome: 'hung-up' })).body).toMatchObject({ status: 400, errors: [{ field: 'outcome' }] });
    expect((await call('GET', `/v1/calls/${id}`)).body).toEqual(before);

    expect((await call('POST', `/v1/calls/${id}/outcome`, { outcome: 'answered', attempt: 2 })).body.status).toBe('in-progress');
    const done = await call('POST', `/v1/calls/${id}/outcome`, { outcome: 'completed', attempt: 2 });
    expect(done.body).toMatchObject({ status: 'completed', attempts: 2, lastOutcome: 'completed' });
    expect((await call('POST', `/v1/calls/${id}/outcome`, { outcome: 'completed' })).body).toMatchObject({ status: 409, errors: [{ field: 'status' }] });
    expect((await call('POST', `/v1/calls/${id}/cancel`)).body).toMatchObject({ status: 409, errors: [{ field: 'status' }] });

    // A call a day ahead waits: it can be cancelled, once.
    const later = await call('POST', '/v1/calls', { tenantId: 'acme', phone: '+14155550101', notBefore: inADay() });
    expect((await call('POST', `/v1/calls/${later.body.id}/cancel`, { now: true })).body).toMatchObject({ status: 400, errors: [{ field: 'now' }] });
    expect((await call('GET', `/v1/calls/${later.body.id}`)).body.status).toBe('queued');
    expect((await call('POST', `/v1/calls/${later.body.id}/cancel`)).body).toMatchObject({ status: 'cancelled', nextAttemptAt: null });
    expect((await call('POST', `/v1/calls/${later.body.id}/cancel`)).status).toBe(409);

    expect((await call('GET', '/v1/calls/999999999')).status).toBe(404);
    expect((await call('POST', '/v1/calls/999999999/outcome', { outcome: 'completed' })).status).toBe(404);
    expect((await call('POST', '/v1/calls/999999999/cancel')).status).toBe(404);
    expect((await call('GET', '/v1/calls/abc')).body).toMatchObject({ status: 400, errors: [{ field: 'id' }] });
  });

  it('refuses a bad call naming the field and writes nothing', async () => {
    const count = async () => (await sql<{ n: number }>('SELECT count(*)::int AS n FROM calls'))[0]!.n;
    const n = await count();
    expect((await call('POST', '/v1/calls', { tenantId: 'acme', phone: '555' })).body).toMatchObject({ status: 400, errors: [{ field: 'phone' }] });
    expect((await call('POST', '/v1/calls', { tenantId: 'nobody', phone: '+14155550102' })).body).toMatchObject({
      status: 400,
      errors: [{ field: 'tenantId' }],
    });
    expect((await call('POST', '/v1/calls', { tenantId: 'acme', phone: '+14155550102', color: 'red' })).body).toMatchObject({ errors: [{ field: 'color' }] });
    expect(await count()).toBe(n);
  });

  it('lists calls page by page to the end, every call once, filtered by tenant and status', async () => {
    expect((await call('PUT', '/v1/tenants/beta', { name: 'Beta', status: 'active' })).status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await call('POST', '/v1/calls', { tenantId: 'beta', phone: `+1415555020${i}`, notBefore: inADay() })).body.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; body: { items: Array<{ id: string; tenantId: string }>; nextCursor: string | null } } = await call(
        'GET',
        `/v1/calls?tenantId=beta&status=queued&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.items.map((c) => c.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
    const all = await call('GET', '/v1/calls?limit=1000');
    expect(all.body.items.map((c: { id: string }) => c.id)).toEqual(expect.arrayContaining(ids));
    expect((await call('GET', '/v1/calls?cursor=bm90LWEtY3Vyc29y')).body).toMatchObject({ errors: [{ field: 'cursor' }] });
    expect((await call('GET', '/v1/calls?status=ringing')).body).toMatchObject({ errors: [{ field: 'status' }] });
    expect((await call('GET', '/v1/calls?limit=1001')).body).toMatchObject({ errors: [{ field: 'limit' }] });
  });
});
