import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'v1-campaigns-test-key-0123456789';

/**
 * /api/v1/campaigns and /api/v1/kpi-snapshots on a real worker process (jobs off, so campaigns
 * stay where the API puts them): create against a list or segment, read, a tenant's list walked
 * page by page, pause/resume/cancel with their 409s; KPI recompute and the date-range list. Every
 * answer is checked against the served OpenAPI document; refused requests change nothing.
 */
describe('/api/v1/campaigns and /api/v1/kpi-snapshots', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;

  beforeAll(async () => {
    worker = fixture.spawn('v1-campaigns', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY });
    await waitUntilStarted(worker);
  });

  const call = v1Client(() => worker, API_KEY);
  const sql = <R extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);
  const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
  const campaign = (overrides: Record<string, unknown> = {}) => ({
    tenantId: 't1',
    name: 'Spring',
    channel: 'email',
    subject: 'Hi {{ contact.name }}',
    template: 'Hello {{ contact.name }}',
    sendAt: inAnHour(),
    listId: 'l1',
    ...overrides,
  });

  beforeAll(async () => {
    expect((await call('PUT', '/v1/tenants/t1', { name: 'One', status: 'active', timezone: 'Europe/Berlin' })).status).toBe(201);
    expect((await call('PUT', '/v1/tenants/t2', { name: 'Two', status: 'active' })).status).toBe(201);
    expect((await call('PUT', '/v1/contacts/c1', { tenantId: 't1', name: 'Ann', email: 'ann@example.com', tags: ['vip'] })).status).toBe(201);
    expect((await call('PUT', '/v1/lists/l1', { tenantId: 't1', name: 'Newsletter' })).status).toBe(201);
    expect((await call('PUT', '/v1/lists/l1/members', { contactIds: ['c1'] })).status).toBe(200);
    expect((await call('PUT', '/v1/segments/s1', { tenantId: 't1', name: 'VIPs', tags: ['vip'] })).status).toBe(201);
    expect((await call('PUT', '/v1/lists/l2', { tenantId: 't2', name: 'Other tenant' })).status).toBe(201);
  });

  it('creates, reads, pauses, resumes and cancels, with 404 and 409 as problem details', async () => {
    const created = await call('POST', '/v1/campaigns', campaign());
    expect(created).toMatchObject({ status: 201, body: { tenantId: 't1', status: 'scheduled', listId: 'l1', segmentId: null, targeted: 0, sent: 0 } });
    const id: string = created.body.id;
    expect((await call('GET', `/v1/campaigns/${id}`)).body).toEqual(created.body);

    expect((await call('POST', `/v1/campaigns/${id}/pause`)).body.status).toBe('paused');
    expect((await call('POST', `/v1/campaigns/${id}/pause`)).body).toMatchObject({ status: 409, title: 'Conflict' });
    expect((await call('POST', `/v1/campaigns/${id}/resume`)).body.status).toBe('scheduled');
    expect((await call('POST', `/v1/campaigns/${id}/resume`)).status).toBe(409);
    expect((await call('POST', `/v1/campaigns/${id}/cancel`, { reason: 'x' })).body).toMatchObject({ status: 400, errors: [{ field: 'reason' }] });
    expect((await call('GET', `/v1/campaigns/${id}`)).body.status).toBe('scheduled');
    expect((await call('POST', `/v1/campaigns/${id}/cancel`)).body.status).toBe('cancelled');
    expect((await call('POST', `/v1/campaigns/${id}/resume`)).status).toBe(409);

    for (const action of ['pause', 'resume', 'cancel']) expect((await call('POST', `/v1/campaigns/nope/${action}`)).status).toBe(404);
    expect((await call('GET', '/v1/campaigns/nope')).status).toBe(404);

    const bySegment = await call('POST', '/v1/campaigns', campaign({ listId: undefined, segmentId: 's1', channel: 'whatsapp', subject: undefined }));
    expect(bySegment).toMatchObject({ status: 201, body: { segmentId: 's1', listId: null, channel: 'whatsapp', subject: null } });
  });

  it('refuses a bad campaign naming the field, and writes nothing', async () => {
    const count = async () => (await sql<{ n: number }>('SELECT count(*)::int AS n FROM campaigns'))[0]!.n;
    const n = await count();
    const both = await call('POST', '/v1/campaigns', campaign({ segmentId: 's1' }));
    expect(both).toMatchObject({ status: 400, type: expect.stringContaining('application/problem+json'), body: { errors: [{ field: 'listId' }] } });
    expect((await call('POST', '/v1/campaigns', campaign({ subject: undefined }))).body).toMatchObject({ errors: [{ field: 'subject' }] });
    expect((await call('POST', '/v1/campaigns', campaign({ sendAt: '2031-01-01 09:00' }))).body).toMatchObject({ errors: [{ field: 'sendAt' }] });
    expect((await call('POST', '/v1/campaigns', campaign({ template: 'Hello {{ contact.name ' }))).body).toMatchObject({
      status: 400,
      errors: [{ field: 'template' }],
    });
    expect((await call('POST', '/v1/campaigns', campaign({ audience: 'all' }))).body).toMatchObject({ errors: [{ field: 'audience' }] });
    // Another tenant's list, or none, is not an audience: 404 naming the field.
    expect((await call('POST', '/v1/campaigns', campaign({ listId: 'l2' }))).body).toMatchObject({ status: 404, errors: [{ field: 'listId' }] });
    expect((await call('POST', '/v1/campaigns', campaign({ listId: undefined, segmentId: 'nope' }))).body).toMatchObject({
      status: 404,
      errors: [{ field: 'segmentId' }],
    });
    expect(await count()).toBe(n);
  });

  it("walks a tenant's campaigns page by page to the end, every one once", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await call('POST', '/v1/campaigns', campaign({ tenantId: 't2', listId: 'l2', name: `c${i}` }))).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; body: { items: Array<{ id: string; tenantId: string }>; nextCursor: string | null } } = await call(
        'GET',
        `/v1/campaigns?tenantId=t2&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.every((c) => c.tenantId === 't2')).toBe(true);
      seen.push(...page.body.items.map((c) => c.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].sort());
    const cancelled = await call('GET', '/v1/campaigns?tenantId=t1&status=cancelled');
    expect(cancelled.body.items).toHaveLength(1);
    expect((await call('GET', '/v1/campaigns?limit=2')).body).toMatchObject({ errors: [{ field: 'tenantId' }] });
    expect((await call('GET', '/v1/campaigns?tenantId=t2&status=done')).body).toMatchObject({ errors: [{ field: 'status' }] });
    expect((await call('GET', '/v1/campaigns?tenantId=t2&cursor=bm90LWEtY3Vyc29y')).body).toMatchObject({ errors: [{ field: 'cursor' }] });
  });

  it('recomputes KPI snapshots and lists them by date range, page by page', async () => {
    const first = await call('POST', '/v1/kpi-snapshots/recompute', { tenantId: 't1', date: '2031-03-01' });
    expect(first).toMatchObject({
      status: 200,
      body: { tenantId: 't1', date: '2031-03-01', timezone: 'Europe/Berlin', leadsCreated: 0, paymentsRecoveredCents: 0, messagesSent: {} },
    });
    for (const day of ['02', '03', '04', '05'])
      expect((await call('POST', '/v1/kpi-snapshots/recompute', { tenantId: 't1', date: `2031-03-${day}` })).status).toBe(200);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: Array<{ date: string }>; nextCursor: string | null } } = await call(
        'GET',
        `/v1/kpi-snapshots?tenantId=t1&from=2031-03-02&to=2031-03-05&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((s) => s.date));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['2031-03-02', '2031-03-03', '2031-03-04', '2031-03-05']);
    expect((await call('GET', '/v1/kpi-snapshots?tenantId=t1')).body.items).toHaveLength(5);
    expect((await call('GET', '/v1/kpi-snapshots?tenantId=t2')).body.items).toEqual([]);

    const count = async () => (await sql<{ n: number }>('SELECT count(*)::int AS n FROM kpi_snapshots'))[0]!.n;
    const n = await count();
    expect((await call('POST', '/v1/kpi-snapshots/recompute', { tenantId: 'nobody', date: '2031-03-01' })).body).toMatchObject({
      status: 404,
      errors: [{ field: 'tenantId' }],
    });
    expect((await call('POST', '/v1/kpi-snapshots/recompute', { tenantId: 't1', date: '2031-02-30' })).body).toMatchObject({
      status: 400,
      errors: [{ field: 'date' }],
    });
    expect(await count()).toBe(n);
    expect((await call('GET', '/v1/kpi-snapshots?tenantId=t1&from=2031-03-05&to=2031-03-01')).body).toMatchObject({ errors: [{ field: 'to' }] });
    expect((await call('GET', '/v1/kpi-snapshots?tenantId=t1&from=yesterday')).body).toMatchObject({ errors: [{ field: 'from' }] });
  });
});
