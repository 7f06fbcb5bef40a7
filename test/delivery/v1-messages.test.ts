import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'v1-messages-test-key-0123456789';

/**
 * The outbox under /api/v1 on a real worker process: schedule (all or none, duplicates, 409 for a
 * reused key), read one, a tenant's messages page by page with a cursor, cancel by key; every
 * answer checked against the OpenAPI document the worker serves.
 */
describe('/api/v1/messages', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let sink: WebhookSink;

  beforeAll(async () => {
    sink = await startWebhookSink();
    worker = fixture.spawn('v1-messages', {
      ...fixture.serviceEnv(),
      JOBS_ENABLED: 'false',
      API_KEY,
      LOG_LEVEL: 'info',
      WEBHOOK_TARGETS: `crm=${sink.url}`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    await waitUntilStarted(worker);
  });
  afterAll(async () => sink?.close());

  const call = v1Client(() => worker, API_KEY);
  const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
  const message = (key: string, overrides: Record<string, unknown> = {}) => ({
    tenantId: 't1',
    channel: 'webhook',
    recipient: 'crm',
    scheduledAt: inAnHour,
    template: 'Hello {{ name }}',
    variables: { name: 'Ann' },
    idempotencyKey: key,
    ...overrides,
  });

  it('schedules, reads, pages through and cancels, in problem details when refused', async () => {
    expect((await call('PUT', '/v1/tenants/t1', { name: 'Tenant one', status: 'active' })).status).toBe(201);

    const created = await call('POST', '/v1/messages', {
      messages: [message('m-1'), message('m-2'), message('m-3'), message('m-due', { scheduledAt: new Date(Date.now() + 500).toISOString() })],
    });
    expect(created).toMatchObject({ status: 201, body: { scheduled: 4, duplicates: 0 } });
    expect((await call('POST', '/v1/messages', { messages: [message('m-1')] })).body).toMatchObject({ scheduled: 0, duplicates: 1 });

    const conflict = await call('POST', '/v1/messages', { messages: [message('m-1', { template: 'Something else' })] });
    expect(conflict).toMatchObject({ status: 409, type: expect.stringContaining('application/problem+json'), body: { errors: [{ field: 'idempotencyKey' }] } });

    // All or none: one bad item refuses the request, naming it; nothing of it is written.
    const invalid = await call('POST', '/v1/messages', { messages: [message('m-4'), message('m-5', { channel: 'pigeon' })] });
    expect(invalid).toMatchObject({ status: 400, body: { errors: [expect.objectContaining({ field: 'messages[1].channel' })] } });
    expect((await call('POST', '/v1/messages', { nope: 1 })).status).toBe(400);

    const one = await call('GET', `/v1/messages/${created.body.ids[0]}`);
    expect(one).toMatchObject({ status: 200, body: { tenantId: 't1', status: 'scheduled' } });
    expect((await call('GET', '/v1/messages/999999999')).status).toBe(404);
    expect((await call('GET', '/v1/messages/abc')).status).toBe(400);

    // Pages of two, in id order, until nextCursor is null; every message once.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: Array<{ idempotencyKey: string }>; nextCursor: string | null } } = await call(
        'GET',
        `/v1/messages?tenantId=t1&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((m) => m.idempotencyKey));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['m-1', 'm-2', 'm-3', 'm-due']);
    expect((await call('GET', '/v1/messages?tenantId=t1&cursor=bm90LWEtY3Vyc29y')).body).toMatchObject({ errors: [{ field: 'cursor' }] });
    expect((await call('GET', '/v1/messages?limit=2')).body).toMatchObject({ errors: [{ field: 'tenantId' }] });
    expect((await call('GET', '/v1/messages?tenantId=t1&limit=0')).status).toBe(400);

    expect((await call('POST', '/v1/messages/cancel', { tenantId: 't1', idempotencyKeys: ['m-2', 'm-3'] })).body).toEqual({ cancelled: 2 });
    const cancelled = await call('GET', '/v1/messages?tenantId=t1&status=cancelled');
    expect(cancelled.body.items.map((m: { idempotencyKey: string }) => m.idempotencyKey)).toEqual(['m-2', 'm-3']);

    // The one due soon is delivered, once.
    await waitFor('m-due sent', async () => (await call('GET', `/v1/messages/${created.body.ids[3]}`)).body.status === 'sent');
    expect(sink.deliveries).toHaveLength(1);
  });
});
