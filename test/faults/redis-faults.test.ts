import { createClient, type RedisClientType } from '@redis/client';
import { PROBE_WORKER, createProbeTable } from '../support/probe';
import { startPrivateRedis } from '../support/private-services';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { startTcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type LogLine, type WorkerProcess } from '../support/worker-process';
import { checkJobInvariants, expectJobInvariants } from './job-invariants';
import { reserveConnectionsForFile } from '../support/connection-budget';

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(20);

/**
 * Redis misbehaving under two replicas running jobs every second (the probe job holds its
 * lease for 1.5 s between two writes; TTL 2 s). After each fault: the invariants hold, and both
 * replicas go on running ticks without a restart.
 *
 * The three faults of the server itself (pause, sleep, restart) hit one pair of replicas in turn,
 * each one waited out until both run ticks again: starting a pair of workers takes 5 to 10 s on
 * a busy 2-core host, and a pair that recovers from every fault without a restart shows the same
 * as three pairs that recover from one each. The invariants are about the whole history (every
 * (job, fire time) once, no write after a lost lease), so the one check at the end covers every
 * fault. The lost replies need the workers behind a proxy, so that scenario has its own pair.
 */
describe('fault injection: Redis', () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  const allWorkers: WorkerProcess[] = [];
  const databases: TestDatabase[] = [];

  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await killAll(allWorkers);
    await redis.stop();
    for (const db of databases) await db.drop();
  });

  /** Two replicas on a fresh database, running ticks (three succeeded before this returns). */
  async function startPair(name: string, redisUrl: string) {
    const db = await createTestDatabase();
    databases.push(db);
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

    return {
      workers,
      /** Injects a fault, waits until the pair runs ticks again, and gives the log lines both logged since the fault began. */
      async fault(inject: () => Promise<void>): Promise<LogLine[]> {
        const since = workers.map((w) => w.logs.length);
        await inject();
        const afterFault = succeeded();
        await waitFor('runs after the fault', () => succeeded() >= afterFault + 3, { limitMs: 90_000 });
        return workers.flatMap((w, i) => w.logs.slice(since[i]));
      },
      /** SIGTERM: both exit cleanly, and the invariants hold over everything the pair ran. */
      async finish() {
        for (const w of workers) w.kill('SIGTERM');
        const exits = await Promise.all(workers.map((w) => w.waitForExit()));
        expect(exits.map((e) => e.code)).toEqual([0, 0]);
        expectJobInvariants(await checkJobInvariants(db.url, workers));
      },
    };
  }

  const admin = async <T>(fn: (c: RedisClientType) => Promise<T>) => {
    const c = createClient({ url: redis.url });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      c.destroy();
    }
  };

  describe('faults of the server, one after another under one pair of replicas', () => {
    let pair: Awaited<ReturnType<typeof startPair>>;

    beforeAll(async () => {
      pair = await startPair('server', redis.url);
    });

    it('CLIENT PAUSE longer than the lock TTL', async () => {
      const logs = await pair.fault(async () => {
        await admin((c) => c.sendCommand(['CLIENT', 'PAUSE', '4000', 'ALL']));
        await new Promise((r) => setTimeout(r, 4_500));
      });
      // The pause outlasted the lease of whoever was holding: that run was cut off, not finished.
      const lost = logs.filter((l) => l.message === 'job run finished' && l.outcome === 'lease-lost');
      expect(lost.length + logs.filter((l) => l.reason === 'lock-unavailable').length).toBeGreaterThan(0);
    });

    it('DEBUG SLEEP longer than the lock TTL', async () => {
      await pair.fault(async () => {
        // The server itself is blocked; the admin connection waits with it.
        await admin((c) => c.sendCommand(['DEBUG', 'SLEEP', '4']));
      });
    });

    it('Redis killed and restarted empty while a lease is held', async () => {
      await pair.fault(async () => {
        await redis.stop();
        await redis.start();
      });
    });

    // Last of this block: it needs the pair the faults above went through.
    it('after every fault: both replicas exit cleanly on SIGTERM, no tick ran twice, no write after a lost lease', async () => {
      await pair.finish();
    });
  });

  it('a proxy that lets commands run but drops their replies', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: redis.port });
    try {
      const pair = await startPair('drop', proxy.url('redis'));
      const logs = await pair.fault(async () => {
        proxy.setMode('drop-replies');
        await new Promise((r) => setTimeout(r, 4_000));
        proxy.setMode('pass');
      });
      expect(logs.some((l) => l.reason === 'lock-unavailable')).toBe(true);
      await pair.finish();
    } finally {
      await proxy.close();
    }
  });
});
