import { scheduleMessages } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { sinkStream, sinkWorkerEnv } from '../support/delivery-harness';
import { openMigratedDatabase } from '../support/harness';
import { startPrivatePostgres, startPrivateStandby } from '../support/private-services';
import { withClient } from '../support/probe';
import { createKeyPrefix, TEST_REDIS_URL } from '../support/services';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { succeededRunsAfter } from './failover-evidence';
import { checkJobInvariants, expectJobInvariants } from './job-invariants';

const MESSAGES = 300;
const WEBHOOK_SECRET = 'promotion-webhook-secret';
const JOBS: ReadonlyArray<readonly [job: string, cronVariable: string]> = [
  ['campaign-scheduler', 'CAMPAIGN_CRON'],
  ['lead-reminder-scheduler', 'LEAD_REMINDER_CRON'],
  ['trial-expiration', 'TRIAL_EXPIRATION_CRON'],
  ['nurture-sequences', 'NURTURE_CRON'],
  ['dunning-scheduler', 'DUNNING_CRON'],
  ['kpi-snapshots', 'KPI_SNAPSHOT_CRON'],
];
const FINAL = ['sent', 'failed', 'dead', 'skipped', 'cancelled'];

/**
 * Issue 16 item 4: a streaming replica (pg_basebackup -R) promoted while three workers run jobs
 * every second and deliver a stream of webhooks. The workers' DATABASE_URL lists both servers
 * with target_session_attrs=read-write (src/db/primary-client.ts): when the primary goes and the
 * replica is promoted, their next connections find the promoted server, without a restart.
 *
 * The primary is stopped with `pg_ctl stop -m fast`: its backends are terminated mid-transaction
 * (the workers' open transactions fail), and the WAL it wrote reaches the replica before it
 * stops. A crash of an asynchronous primary can also lose its last commits; the README says what
 * that loses, and this test does not claim it away.
 */
describe('fault injection: PostgreSQL replica promoted under three workers', () => {
  let primary: Awaited<ReturnType<typeof startPrivatePostgres>> | undefined;
  let standby: Awaited<ReturnType<typeof startPrivateStandby>> | undefined;
  let sink: WebhookSink;
  const keys = createKeyPrefix();
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    primary = await startPrivatePostgres();
    standby = await startPrivateStandby(primary);
    sink = await startWebhookSink({ secret: WEBHOOK_SECRET });
    sink.respond(() => ({ status: 200, delayMs: 5 }));
  });
  afterAll(async () => {
    await killAll(workers);
    await keys.removeKeys();
    await sink?.close();
    await standby?.destroy();
    await primary?.destroy();
  });

  it('the workers follow the promoted replica; every message delivered, each key accepted once by the receiver, no tick run twice', async () => {
    const p = primary!;
    const s = standby!;
    const databaseUrl = `postgres://postgres@127.0.0.1:${p.port},127.0.0.1:${s.port}/postgres?target_session_attrs=read-write`;
    const env = {
      ...sinkWorkerEnv({ DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: keys.prefix }, sink.url, WEBHOOK_SECRET),
      JOBS_ENABLED: 'true',
      ...Object.fromEntries(JOBS.map(([, variable]) => [variable, '*/1 * * * * *'])),
      LOCK_TTL_MS: '5000',
      DB_QUERY_TIMEOUT_MS: '5000',
      HEALTH_PROBE_INTERVAL_MS: '250',
      // A row `sending` when its mark was lost is reconciled after its lease (resent under its key).
      DELIVERY_LEASE_MS: '8000',
      DELIVERY_SEND_TIMEOUT_MS: '4000',
      DELIVERY_RETRY_BASE_MS: '200',
    };
    workers.push(spawnWorker('promote-1', env));
    await waitUntilStarted(workers[0]!);
    workers.push(spawnWorker('promote-2', env), spawnWorker('promote-3', env));
    await Promise.all(workers.map((w) => waitUntilStarted(w)));
    const chose = (w: WorkerProcess, port: number) => w.logs.some((l) => l.message === 'postgres host chosen' && l.host === `127.0.0.1:${port}`);
    expect(workers.map((w) => chose(w, p.port))).toEqual([true, true, true]);

    await waitFor('jobs running on the primary', async () => {
      const runs = await succeededRunsAfter(p.url, new Date(0));
      return JOBS.every(([job]) => (runs.get(job) ?? 0) >= 2);
    });

    const outbox = await openMigratedDatabase('postgres', p.url);
    const requests = sinkStream('promotion', MESSAGES, 30);
    try {
      await outbox.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
      expect(await scheduleMessages(outbox, requests)).toEqual(expect.objectContaining({ scheduled: MESSAGES, duplicates: 0 }));
    } finally {
      await outbox.close();
    }
    await waitFor('part of the stream delivered', () => sink.deliveries.length >= 30, { everyMs: 5 });

    // The primary goes; the replica is promoted while messages are being sent and jobs run.
    await p.stop('fast');
    const deliveredAtStop = sink.deliveries.length;
    await s.promote();
    const promotedAt = new Date();
    for (const w of workers) await w.waitForLog('the worker follows the promoted replica', () => chose(w, s.port), 60_000);

    await waitFor(
      'jobs running on the promoted replica',
      async () => {
        const runs = await succeededRunsAfter(s.url, promotedAt);
        return JOBS.every(([job]) => (runs.get(job) ?? 0) >= 3);
      },
      { limitMs: 120_000 },
    );
    const rows = await waitFor(
      'every message final',
      async () => {
        const r = await withClient(s.url, (c) =>
          c.query<{ idempotency_key: string; status: string; resolution: string | null }>(`SELECT idempotency_key, status, resolution FROM scheduled_messages`),
        );
        return r.rows.length === MESSAGES && r.rows.every((row) => FINAL.includes(row.status)) ? r.rows : undefined;
      },
      { limitMs: 180_000, everyMs: 250 },
    );
    await waitFor('database connected in /health again', async () => {
      const states = await Promise.all(workers.map(async (w) => (await w.get('/health')).json().services.database));
      return states.every((state) => state === 'connected');
    });

    // No restart.
    expect(workers.map((w) => ({ worker: w.name, exit: w.child.exitCode, signal: w.child.signalCode }))).toEqual(
      workers.map((w) => ({ worker: w.name, exit: null, signal: null })),
    );
    expect(workers.map((w) => w.logs.filter((l) => l.message === 'crm-worker started').length)).toEqual([1, 1, 1]);

    // Every message sent; a key reached the sink twice only for a row reconciled after the stop.
    expect(rows.filter((r) => r.status !== 'sent')).toEqual([]);
    expect(sink.deliveredKeys()).toEqual(new Set(requests.map((r) => r.idempotencyKey)));
    expect(sink.deliveries).toHaveLength(MESSAGES);
    const reconciled = new Set(rows.filter((r) => r.resolution?.startsWith('reconciled')).map((r) => r.idempotency_key));
    // The receiver accepted each key once (above); a key may reach it twice only for a row
    // reconciled after its sender lost the database (resent under the same key). Repeats without a
    // reconciliation were seen once: the test's own pg_ctl calls were synchronous and froze this
    // process, sink included, past the 4 s send timeout, so sends that had arrived were retried
    // (test/support/private-services.ts runs them asynchronously now).
    const unexplained = sink.duplicates.filter((d) => !reconciled.has(d.key));
    expect(unexplained).toEqual([]);

    for (const w of workers) w.kill('SIGTERM');
    const exits = await Promise.all(workers.map((w) => w.waitForExit()));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    const invariants = await checkJobInvariants(s.url, workers);
    expectJobInvariants(invariants);
    console.log(
      JSON.stringify({
        deliveredAtStop,
        reconciled: reconciled.size,
        sinkDuplicates: sink.duplicates.length,
        resentWithoutReconcile: unexplained.length,
        executions: invariants.executions,
        duplicateRuns: invariants.duplicateRuns.length,
        lostInTransaction: workers.map((w) => w.logs.filter((l) => l.message === 'postgres connection lost inside a transaction').length),
      }),
    );
  }, 400_000);
});
