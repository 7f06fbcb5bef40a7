import { startPrivatePostgres } from '../support/private-services';
import { withClient } from '../support/probe';
import { createKeyPrefix, TEST_REDIS_URL } from '../support/services';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'database-down-test-key';

/**
 * Issue 11 item 8 (first part): scheduling while the database is down is a condition to retry,
 * not a server bug. A worker process on a private PostgreSQL that is then stopped answers
 * POST /api/followups with 503 + Retry-After naming the reason (it used to be 500 "internal
 * error"), and with 201 once the server is back.
 */
describe('fault injection: POST /api/followups while PostgreSQL is down', () => {
  const keys = createKeyPrefix();
  const workers: WorkerProcess[] = [];
  let postgres: Awaited<ReturnType<typeof startPrivatePostgres>>;

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
  });
  afterAll(async () => {
    await killAll(workers);
    await keys.removeKeys();
    await postgres?.destroy();
  });

  const post = async (worker: WorkerProcess, body: unknown) => {
    const response = await fetch(`http://127.0.0.1:${worker.port()}/api/followups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, retryAfter: response.headers.get('retry-after'), text, json: () => JSON.parse(text) };
  };
  const message = (key: string) => ({
    tenantId: 't1',
    channel: 'log',
    recipient: 'someone',
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
    template: 'Hello',
    idempotencyKey: key,
  });

  it('answers 503 with Retry-After and the reason while the server is stopped, 201 after it starts again', async () => {
    const worker = spawnWorker('api-db-down', {
      DATABASE_URL: postgres.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      API_KEY,
      LOG_LEVEL: 'info',
      JOBS_ENABLED: 'false',
      DB_QUERY_TIMEOUT_MS: '3000',
      HEALTH_PROBE_INTERVAL_MS: '250',
    });
    workers.push(worker);
    await waitUntilStarted(worker);
    await withClient(postgres.url, (c) => c.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`));
    expect((await post(worker, message('before-stop'))).status).toBe(201);

    await postgres.stop();
    // Several requests: the pool's open connections die first (reset), new ones are refused.
    const whileDown = [];
    for (let i = 0; i < 3; i++) whileDown.push(await post(worker, message(`while-down-${i}`)));
    expect(whileDown.map((r) => ({ status: r.status, retryAfter: r.retryAfter, body: r.json() }))).toEqual(
      whileDown.map(() => ({ status: 503, retryAfter: expect.stringMatching(/^[1-9][0-9]*$/), body: { error: 'database unavailable' } })),
    );
    // A batch takes the same way through.
    const batch = await post(worker, { messages: [message('batch-down-1'), message('batch-down-2')] });
    expect({ status: batch.status, body: batch.json() }).toEqual({ status: 503, body: { error: 'database unavailable' } });
    // Worker health reads the shared heartbeat: unversioned, its own 503 shape; under /v1 a problem.
    const get = (path: string) => fetch(`http://127.0.0.1:${worker.port()}/api${path}`, { headers: { 'x-api-key': API_KEY } });
    const oldHealth = await get('/worker/health');
    expect({ status: oldHealth.status, body: await oldHealth.json() }).toMatchObject({ status: 503, body: { ok: false, status: 'unknown' } });
    const v1Health = await get('/v1/worker');
    expect({
      status: v1Health.status,
      type: v1Health.headers.get('content-type'),
      retryAfter: v1Health.headers.get('retry-after'),
      body: await v1Health.json(),
    }).toMatchObject({
      status: 503,
      type: expect.stringContaining('application/problem+json'),
      retryAfter: expect.stringMatching(/^[1-9][0-9]*$/),
      body: { type: 'urn:crm-worker:problem:database-unavailable', status: 503 },
    });
    expect(worker.logs.filter((l) => l.message === 'http handler failed')).toEqual([]);

    await postgres.start();
    const after = await waitFor(
      'scheduling accepted again',
      async () => {
        const r = await post(worker, message('after-start'));
        return r.status === 503 ? undefined : r;
      },
      { limitMs: 60_000, everyMs: 250 },
    );
    expect({ status: after.status, scheduled: after.json().scheduled }).toEqual({ status: 201, scheduled: 1 });

    // Nothing of the refused requests was stored; the worker lived through it.
    const stored = await withClient(postgres.url, (c) => c.query<{ idempotency_key: string }>(`SELECT idempotency_key FROM scheduled_messages ORDER BY id`));
    expect(stored.rows.map((r) => r.idempotency_key)).toEqual(['before-stop', 'after-start']);
    expect(worker.child.exitCode).toBeNull();
    worker.kill('SIGTERM');
    expect((await worker.waitForExit()).code).toBe(0);
  });
});
