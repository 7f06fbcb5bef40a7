import { Client } from 'pg';
import { Agent, request } from 'undici';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'api-load-test-key-0123';
const CONCURRENT_REQUESTS = 2_000;
const DUE_MEANWHILE = 20;

/**
 * The API cannot starve the worker: 2,000 concurrent API requests against one real worker process
 * (loopback, bounded). Every answer is a success or a shed 503/429 with Retry-After — never 500 —,
 * messages that come due meanwhile are delivered by the dispatcher, and /health stays 200.
 * (Before: one shared pool, 1,840 × 500, a failed dispatcher tick and /health flapping to 503.)
 */
describe('API load against one worker', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let sink: WebhookSink;
  const agent = new Agent({ connections: CONCURRENT_REQUESTS + 50, pipelining: 0 });

  beforeAll(async () => {
    sink = await startWebhookSink();
    worker = fixture.spawn('api-load', {
      ...fixture.serviceEnv(),
      LOG_LEVEL: 'info',
      JOBS_ENABLED: 'false',
      API_KEY,
      WEBHOOK_TARGETS: `sink=${sink.url}`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      HEALTH_PROBE_INTERVAL_MS: '100',
    });
    await waitUntilStarted(worker);
    const sql = new Client({ connectionString: fixture.db.url });
    await sql.connect();
    await sql.query(`INSERT INTO tenants (id, name) VALUES ('t-load', 'Load tenant')`);
    await sql.end();
  });
  afterAll(async () => {
    await agent.close();
    await sink.close();
  });

  const post = async (path: string, body: unknown) => {
    const response = await request(`http://127.0.0.1:${worker.port()}/api${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify(body),
      dispatcher: agent,
    });
    const text = await response.body.text();
    return { status: response.statusCode, retryAfter: response.headers['retry-after'], text };
  };
  const message = (key: string, dueInMs: number) => ({
    tenantId: 't-load',
    channel: 'webhook',
    recipient: 'sink',
    type: 'notification',
    scheduledAt: new Date(Date.now() + dueInMs).toISOString(),
    template: 'Load {{ key }}',
    variables: { key },
    idempotencyKey: key,
  });

  it('2,000 concurrent requests: no 500, due messages delivered, /health 200 throughout', async () => {
    // Messages that come due while the load runs (the first requests go out right after).
    const due = Array.from({ length: DUE_MEANWHILE }, (_, i) => message(`due-${i}`, 300 + i * 50));
    const scheduled = await post('/followups', { messages: due });
    expect({ status: scheduled.status, text: scheduled.status === 201 ? '' : scheduled.text }).toEqual({ status: 201, text: '' });

    const healthStatuses: number[] = [];
    let loading = true;
    const healthPoller = (async () => {
      while (loading) {
        const response = await request(`http://127.0.0.1:${worker.port()}/health`, { dispatcher: agent });
        await response.body.text();
        healthStatuses.push(response.statusCode);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    // Each request schedules a small batch far in the future: a transaction per request.
    const results = await Promise.all(
      Array.from({ length: CONCURRENT_REQUESTS }, (_, i) =>
        post('/followups', { messages: Array.from({ length: 5 }, (_, j) => message(`load-${i}-${j}`, 3_600_000)) }).catch((err: Error) => ({
          status: -1,
          retryAfter: undefined,
          text: err.message,
        })),
      ),
    );
    await waitFor('the due messages to be delivered', () => due.every((m) => sink.deliveredKeys().has(m.idempotencyKey)) || undefined);
    loading = false;
    await healthPoller;

    const byStatus: Record<number, number> = {};
    for (const r of results) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    const clientErrors = [...new Set(results.filter((r) => r.status === -1).map((r) => r.text))].map(
      (t) => `${t} x${results.filter((r) => r.text === t).length}`,
    );
    const failures = worker.logs
      .filter((l) => l.level === 'error')
      .slice(0, 3)
      .map((l) => String(l.error ?? l.message).slice(0, 300));
    // Every answer is a success or shed load; nothing failed as an error or a dropped connection.
    expect({
      unexpected: Object.keys(byStatus)
        .map(Number)
        .filter((s) => ![201, 429, 503].includes(s)),
      failures,
      clientErrors,
    }).toEqual({
      unexpected: [],
      failures: [],
      clientErrors: [],
    });
    expect(results.filter((r) => r.status === 503 || r.status === 429).every((r) => r.retryAfter !== undefined)).toBe(true);
    expect(byStatus[201]).toBeGreaterThan(0);
    expect(healthStatuses.length).toBeGreaterThan(0);
    // With the worker's own account of any change (which probe failed, and why), should one come.
    const healthChanges = worker.logs.filter((l) => l.message === 'service health changed' && l.from !== 'unknown');
    expect({ notOk: healthStatuses.filter((s) => s !== 200), healthChanges }).toEqual({ notOk: [], healthChanges: [] });
    // The worker went through it alive.
    expect((await request(`http://127.0.0.1:${worker.port()}/health/live`, { dispatcher: agent })).statusCode).toBe(200);
  }, 120_000);
});
