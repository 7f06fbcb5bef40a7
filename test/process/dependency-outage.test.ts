import { startPrivatePostgres, startPrivateRedis } from '../support/private-services';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { waitFor } from '../support/wait';

describe('Redis, then PostgreSQL, stopped while the worker runs', () => {
  const workers: WorkerProcess[] = [];
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let postgres: Awaited<ReturnType<typeof startPrivatePostgres>>;

  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startPrivateRedis(), startPrivatePostgres()]);
  });
  afterAll(async () => {
    await killAll(workers);
    await redis.stop();
    await postgres.destroy();
  });

  it('turns /health 503 naming the service, keeps running, and recovers without a restart', async () => {
    const worker = spawnWorker('outage', {
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
      TRIAL_EXPIRATION_CRON: '*/1 * * * * *',
      HEALTH_PROBE_INTERVAL_MS: '250',
      HEALTH_CHECK_TIMEOUT_MS: '500',
      DB_QUERY_TIMEOUT_MS: '2000',
      REDIS_COMMAND_TIMEOUT_MS: '500',
      LOCK_TTL_MS: '3000',
    });
    workers.push(worker);
    await waitUntilStarted(worker);
    const health = async () => {
      const r = await worker.get('/health');
      return { status: r.status, body: r.json() };
    };
    expect((await health()).status).toBe(200);
    const pid = worker.child.pid;
    const succeededRuns = () => worker.logs.filter((l) => l.message === 'job run finished' && l.outcome === 'succeeded').length;

    // Redis down.
    await redis.stop();
    const redisDown = await waitFor('/health to report redis down', async () => {
      const h = await health();
      return h.status === 503 && h.body.services.redis === 'disconnected' ? h : undefined;
    });
    expect(redisDown.body.problems).toEqual([expect.stringMatching(/^redis: /)]);
    expect(redisDown.body.services.database).toBe('connected');
    await worker.waitForLog('a tick skipped for want of Redis', (l) => l.reason === 'lock-unavailable');

    await redis.start();
    await waitFor('/health to recover after redis returns', async () => (await health()).status === 200);
    const afterRedis = succeededRuns();
    await waitFor('ticks to run again after redis returns', () => succeededRuns() > afterRedis);

    // PostgreSQL down (immediate stop: connections are cut, as in a crash).
    await postgres.stop();
    const dbDown = await waitFor('/health to report the database down', async () => {
      const h = await health();
      return h.status === 503 && h.body.services.database === 'disconnected' ? h : undefined;
    });
    expect(dbDown.body.problems).toEqual([expect.stringMatching(/^database: /)]);
    expect((await worker.get('/health/live')).status).toBe(200);
    expect((await worker.get('/health/ready')).status).toBe(503);

    await postgres.start();
    await waitFor('/health to recover after postgres returns', async () => (await health()).status === 200);
    const afterPostgres = succeededRuns();
    await waitFor('ticks to run again after postgres returns', () => succeededRuns() > afterPostgres);

    // The same process all along: it recovered, nobody restarted it.
    expect(worker.child.pid).toBe(pid);
    expect(worker.child.exitCode).toBeNull();
    expect(worker.logs.filter((l) => l.message === 'crm-worker started')).toHaveLength(1);
  });
});
