import { createClient } from 'redis';
import { PROBE_WORKER, createProbeTable } from '../support/probe';
import { startPrivateRedis } from '../support/private-services';
import { createTestDatabase } from '../support/services';
import { startTcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { checkJobInvariants, expectJobInvariants } from './job-invariants';

/**
 * Redis misbehaving under two replicas running jobs every second (the probe job holds its
 * lease for 1.5 s between two writes; TTL 2 s). After each fault: the invariants hold, and both
 * replicas go on running ticks without a restart.
 */
describe('fault injection: Redis', () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  const allWorkers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await killAll(allWorkers);
    await redis.stop();
  });

  async function scenario(name: string, redisUrl: string, inject: () => Promise<void>) {
    const db = await createTestDatabase();
    try {
      await createProbeTable(db.url);
      const env = {
        DATABASE_URL: db.url,
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: `${name}:`,
        PROBE_CRON: '*/1 * * * * *',
        PROBE_HOLD_MS: '1500',
        TRIAL_EXPIRATION_CRON: '*/1 * * * * *',
        LOCK_TTL_MS: '2000',
        REDIS_COMMAND_TIMEOUT_MS: '300',
        HEALTH_PROBE_INTERVAL_MS: '250',
      };
      const workers = [1, 2].map((n) => spawnWorker(`${name}-${n}`, env, { script: PROBE_WORKER }));
      allWorkers.push(...workers);
      await Promise.all(workers.map((w) => waitUntilStarted(w)));
      const succeeded = () => workers.flatMap((w) => w.logs).filter((l) => l.message === 'job run finished' && l.outcome === 'succeeded').length;
      await waitFor('runs before the fault', () => succeeded() >= 3);

      await inject();

      const afterFault = succeeded();
      await waitFor('runs after the fault', () => succeeded() >= afterFault + 3, { limitMs: 90_000 });
      for (const w of workers) w.kill('SIGTERM');
      const exits = await Promise.all(workers.map((w) => w.waitForExit()));
      expect(exits.map((e) => e.code)).toEqual([0, 0]);
      const result = await checkJobInvariants(db.url, workers);
      expectJobInvariants(result);
      return { workers, result };
    } finally {
      await db.drop();
    }
  }

  const admin = async <T>(fn: (c: ReturnType<typeof createClient>) => Promise<T>) => {
    const c = createClient({ url: redis.url });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      c.destroy();
    }
  };

  it('CLIENT PAUSE longer than the lock TTL', async () => {
    const { workers } = await scenario('pause', redis.url, async () => {
      await admin((c) => c.sendCommand(['CLIENT', 'PAUSE', '4000', 'ALL']));
      await new Promise((r) => setTimeout(r, 4_500));
    });
    // The pause outlasted the lease of whoever was holding: that run was cut off, not finished.
    const lost = workers.flatMap((w) => w.logs).filter((l) => l.message === 'job run finished' && l.outcome === 'lease-lost');
    expect(lost.length + workers.flatMap((w) => w.logs).filter((l) => l.reason === 'lock-unavailable').length).toBeGreaterThan(0);
  });

  it('DEBUG SLEEP longer than the lock TTL', async () => {
    await scenario('sleep', redis.url, async () => {
      // The server itself is blocked; the admin connection waits with it.
      await admin((c) => c.sendCommand(['DEBUG', 'SLEEP', '4']));
    });
  });

  it('Redis killed and restarted empty while a lease is held', async () => {
    await scenario('restart', redis.url, async () => {
      await redis.stop();
      await redis.start();
    });
  });

  it('a proxy that lets commands run but drops their replies', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: redis.port });
    try {
      const { workers } = await scenario('drop', proxy.url('redis'), async () => {
        proxy.setMode('drop-replies');
        await new Promise((r) => setTimeout(r, 4_000));
        proxy.setMode('pass');
      });
      expect(workers.flatMap((w) => w.logs).some((l) => l.reason === 'lock-unavailable')).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});
