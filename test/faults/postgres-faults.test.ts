import { Client } from 'pg';
import { PROBE_WORKER, createProbeTable } from '../support/probe';
import { startPrivatePostgres } from '../support/private-services';
import { createKeyPrefix, TEST_REDIS_URL } from '../support/services';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { checkJobInvariants, expectJobInvariants } from './job-invariants';

/**
 * PostgreSQL failing under two replicas running jobs every second: backends killed in the
 * middle of transactions, then the server restarted with `-m immediate` (a crash). The
 * invariants hold and the replicas recover by themselves.
 */
describe('fault injection: PostgreSQL', () => {
  const keys = createKeyPrefix();
  let postgres: Awaited<ReturnType<typeof startPrivatePostgres>>;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    await createProbeTable(postgres.url);
  });
  afterAll(async () => {
    await killAll(workers);
    await keys.removeKeys();
    await postgres.destroy();
  });

  const adminQuery = async (sql: string) => {
    const c = new Client({ connectionString: postgres.url });
    await c.connect();
    try {
      return await c.query(sql);
    } finally {
      await c.end();
    }
  };

  it('backends terminated mid-transaction, then an immediate restart', async () => {
    const env = {
      DATABASE_URL: postgres.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      PROBE_CRON: '*/1 * * * * *',
      PROBE_HOLD_MS: '300',
      TRIAL_EXPIRATION_CRON: '*/1 * * * * *',
      LOCK_TTL_MS: '3000',
      DB_QUERY_TIMEOUT_MS: '2000',
      HEALTH_PROBE_INTERVAL_MS: '250',
    };
    workers.push(...[1, 2].map((n) => spawnWorker(`pg-${n}`, env, { script: PROBE_WORKER })));
    await Promise.all(workers.map((w) => waitUntilStarted(w)));
    const succeeded = () => workers.flatMap((w) => w.logs).filter((l) => l.message === 'job run finished' && l.outcome === 'succeeded').length;
    await waitFor('runs before the faults', () => succeeded() >= 3);

    // Kill every worker backend a few times, at whatever point their transactions are.
    let terminated = 0;
    for (let round = 0; round < 5; round++) {
      const result = await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'crm-worker%'`);
      terminated += result.rowCount ?? 0;
      await new Promise((r) => setTimeout(r, 700));
    }
    expect(terminated).toBeGreaterThan(0);
    const afterTerminations = succeeded();
    await waitFor('runs after the terminations', () => succeeded() >= afterTerminations + 3, { limitMs: 90_000 });

    await postgres.stop();
    await new Promise((r) => setTimeout(r, 1_500));
    await postgres.start();
    const afterRestart = succeeded();
    await waitFor('runs after the restart', () => succeeded() >= afterRestart + 3, { limitMs: 90_000 });

    for (const w of workers) w.kill('SIGTERM');
    const exits = await Promise.all(workers.map((w) => w.waitForExit()));
    // On failure, say why a worker did not exit cleanly: its error lines and stderr.
    const unclean = workers
      .filter((_, i) => exits[i]!.code !== 0)
      .map((w) => ({ worker: w.name, errors: w.logs.filter((l) => l.level === 'error').slice(-3), stderr: w.stderr.join('').slice(-1500) }));
    expect(unclean).toEqual([]);
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(workers.every((w) => w.logs.filter((l) => l.message === 'crm-worker started').length === 1)).toBe(true);
    expectJobInvariants(await checkJobInvariants(postgres.url, workers));
  });
});
