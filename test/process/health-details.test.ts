import { createTestDatabase, type TestDatabase } from '../support/services';
import { startPrivateRedis } from '../support/private-services';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { waitFor } from '../support/wait';

const API_KEY = 'health-details-key-0123456789';
const INSTANCE = 'worker-7.internal.example';

/**
 * /health answers everyone, so an anonymous caller sees service states only: no instance id (the
 * host name by default) and no probe error text (which names internal hosts and ports). The same
 * request with the API key shows both.
 */
describe('/health details only with the API key', () => {
  const workers: WorkerProcess[] = [];
  let db: TestDatabase;
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  // The private Redis's stop() waits for an exit that already happened when called twice.
  let redisStopped = false;

  beforeAll(async () => {
    [db, redis] = await Promise.all([createTestDatabase(), startPrivateRedis()]);
  });
  afterAll(async () => {
    await killAll(workers);
    if (!redisStopped) await redis.stop();
    await db.drop();
  });

  it('hides the instance and error texts from anonymous callers, shows them with the key', async () => {
    const worker = spawnWorker(INSTANCE, {
      DATABASE_URL: db.url,
      REDIS_URL: `redis://localhost:${redis.port}`,
      API_KEY,
      JOBS_ENABLED: 'false',
      HEALTH_PROBE_INTERVAL_MS: '250',
      HEALTH_CHECK_TIMEOUT_MS: '500',
      REDIS_COMMAND_TIMEOUT_MS: '500',
    });
    workers.push(worker);
    await waitUntilStarted(worker);

    const healthy = await worker.get('/health');
    expect(healthy.status).toBe(200);
    expect(healthy.json()).not.toHaveProperty('instance');
    expect((await worker.get('/health', { 'x-api-key': API_KEY })).json().instance).toBe(INSTANCE);

    await redis.stop();
    redisStopped = true;
    const anonymous = await waitFor('/health to report redis down', async () => {
      const r = await worker.get('/health');
      return r.status === 503 && r.json().services.redis === 'disconnected' ? r : undefined;
    });
    expect(anonymous.json().problems).toEqual(['redis: disconnected']);
    expect(anonymous.body).not.toContain(INSTANCE);
    expect(anonymous.body).not.toContain(String(redis.port));
    const ready = await worker.get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.json().problems).toEqual(['redis: disconnected']);
    expect((await worker.get('/health', { 'x-api-key': 'a-wrong-key-0123456789' })).json().problems).toEqual(['redis: disconnected']);

    const detailed = await worker.get('/health', { 'x-api-key': API_KEY });
    expect(detailed.status).toBe(503);
    expect(detailed.json().instance).toBe(INSTANCE);
    expect(detailed.json().problems).toEqual([expect.stringMatching(/^redis: .+/)]);
    expect(detailed.json().problems[0]).not.toBe('redis: disconnected');
    const readyDetailed = await worker.get('/health/ready', { authorization: `Bearer ${API_KEY}` });
    expect(readyDetailed.json().problems).toEqual(detailed.json().problems);
  });
});
