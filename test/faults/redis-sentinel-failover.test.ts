import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { sinkStream, sinkWorkerEnv } from '../support/delivery-harness';
import { openMigratedDatabase } from '../support/harness';
import { startPrivateRedisSentinels } from '../support/private-services';
import { createProbeTable, PROBE_WORKER, withClient } from '../support/probe';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { checkJobInvariants, expectJobInvariants } from './job-invariants';
import { leaseOverlaps, succeededRunsAfter } from './failover-evidence';
import { reserveConnectionsForFile } from '../support/connection-budget';

const MESSAGES = 300;
const WEBHOOK_SECRET = 'failover-webhook-secret';
/**
 * The CRM jobs every second, and the probe job, which holds its lease 10 s between two fenced
 * writes: longer than the failover takes, so a worker still believes in its lease when the
 * promoted replica, which never saw it, hands lock:probe to another worker.
 */
const JOBS: ReadonlyArray<readonly [job: string, cronVariable: string]> = [
  ['campaign-scheduler', 'CAMPAIGN_CRON'],
  ['lead-reminder-scheduler', 'LEAD_REMINDER_CRON'],
  ['trial-expiration', 'TRIAL_EXPIRATION_CRON'],
  ['nurture-sequences', 'NURTURE_CRON'],
  ['dunning-scheduler', 'DUNNING_CRON'],
];
const ALL_JOBS = [...JOBS.map(([job]) => job), 'probe'];
const FINAL = ['sent', 'failed', 'dead', 'skipped', 'cancelled'];

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(42);

/**
 * Issue 16 item 3: Redis behind Sentinel. Three workers reach Redis through three sentinels
 * (REDIS_SENTINELS, master name, passwords on the data nodes and on the sentinels), run jobs every
 * second and deliver a stream of webhooks, when the master is SIGKILLed. The sentinels promote the
 * replica; the workers follow it without a restart.
 *
 * Replication is asynchronous: a lease the master acknowledged may be missing on the replica. On
 * loopback the replica is usually current within microseconds, so the test makes that loss
 * certain instead of hoping for it: just before the kill it deletes the lock keys on the replica
 * (made writable for that one command), the state of a replica that missed the last lease writes.
 * The promoted replica then holds no lease although workers believe they hold theirs; another
 * worker may take `lock:<job>` while the first still runs. The PostgreSQL fence (job_runs, the
 * lease epoch) must keep every tick to one run, and the old holder's writes out.
 */
describe('fault injection: Redis Sentinel failover (master SIGKILLed) under three workers', () => {
  let db: TestDatabase;
  let group: Awaited<ReturnType<typeof startPrivateRedisSentinels>> | undefined;
  let sink: WebhookSink;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await createProbeTable(db.url);
    sink = await startWebhookSink({ secret: WEBHOOK_SECRET });
    sink.respond(() => ({ status: 200, delayMs: 5 }));
    group = await startPrivateRedisSentinels();
  });
  afterAll(async () => {
    await killAll(workers);
    await sink?.close();
    await group?.destroy();
    await db?.drop();
  });

  it('the workers follow the promoted replica; no tick runs twice, no message is delivered twice', async () => {
    const g = group!;
    const env = {
      ...sinkWorkerEnv(
        {
          DATABASE_URL: db.url,
          REDIS_SENTINELS: g.sentinels,
          REDIS_SENTINEL_MASTER: g.masterName,
          REDIS_PASSWORD: g.password,
          REDIS_SENTINEL_PASSWORD: g.sentinelPassword,
        },
        sink.url,
        WEBHOOK_SECRET,
      ),
      JOBS_ENABLED: 'true',
      ...Object.fromEntries(JOBS.map(([, variable]) => [variable, '*/1 * * * * *'])),
      PROBE_CRON: '*/1 * * * * *',
      PROBE_HOLD_MS: '10000',
      // Renewed at 15 s, after the probe's hold: the old holder learns of its loss only from the fence.
      LOCK_TTL_MS: '30000',
      REDIS_COMMAND_TIMEOUT_MS: '1000',
      // The probe is always mid-hold at the SIGTERM (its runs follow each other) and ignores its
      // abort, so the shutdown always waits this long before aborting it; the other jobs take
      // milliseconds. 1 s instead of the default 5 s: the same abort path, the run recorded
      // 'aborted', the same clean exit asserted below.
      SHUTDOWN_TIMEOUT_MS: '1000',
      HEALTH_PROBE_INTERVAL_MS: '250',
      DELIVERY_RETRY_BASE_MS: '200',
    };
    workers.push(spawnWorker('sentinel-1', env, { script: PROBE_WORKER }));
    await waitUntilStarted(workers[0]!);
    workers.push(spawnWorker('sentinel-2', env, { script: PROBE_WORKER }), spawnWorker('sentinel-3', env, { script: PROBE_WORKER }));
    await Promise.all(workers.map((w) => waitUntilStarted(w)));
    for (const w of workers) await w.waitForLog('connected through the sentinels', (l) => l.message === 'redis connected' && l.through === 'sentinel');
    expect((await workers[0]!.get('/health')).json().services.redis).toBe('connected');

    const probeHoldings = () => new Set(workers.flatMap((w) => w.logs.filter((l) => l.message === 'probe holding').map((l) => String(l.runId))));
    // The probe's runs follow each other (the holder runs the ticks left to it), so the one after
    // the second starts as the second is recorded, while the check below is still polling. Taken
    // at the previous poll, the runs holding before exclude that run: it is fresh (its 10 s hold
    // began a poll ago), and the kill need not wait out its whole hold for the next one.
    let holdingAtPoll = probeHoldings();
    let holdingBefore = holdingAtPoll;
    let requests: ScheduleRequest[] = [];
    // Opened before the wait, so that only the scheduling itself follows it: the kill should land
    // early in that fresh hold.
    const outbox = await openMigratedDatabase('postgres', db.url);
    try {
      await outbox.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
      await waitFor('every job running on the first master', async () => {
        holdingBefore = holdingAtPoll;
        holdingAtPoll = probeHoldings();
        const runs = await succeededRunsAfter(db.url, new Date(0));
        return ALL_JOBS.every((job) => (runs.get(job) ?? 0) >= 2);
      });

      // A stream of messages due over the next seconds, so some are due while no master is known.
      requests = sinkStream('sentinel', MESSAGES, 30);
      expect(await scheduleMessages(outbox, requests)).toEqual(expect.objectContaining({ scheduled: MESSAGES, duplicates: 0 }));
    } finally {
      await outbox.close();
    }
    await waitFor('part of the stream delivered', () => sink.deliveries.length >= 30, { everyMs: 5 });

    // The probe holds its lease now: the kill lands while a worker believes it holds lock:probe,
    // in a run that began its hold after the first-master wait (if that one has ended meanwhile,
    // the next one).
    await waitFor(
      'a probe run holding its lease',
      () => {
        const finished = new Set(
          workers.flatMap((w) => w.logs.filter((l) => l.message === 'job run finished' && l.job === 'probe').map((l) => String(l.runId))),
        );
        return [...probeHoldings()].some((runId) => !holdingBefore.has(runId) && !finished.has(runId));
      },
      { everyMs: 5 },
    );
    const locksOnMaster = await g.onNode(g.masterPort, (c) => c.keys('*lock:*'));
    const lostOnReplica = await g.onNode(g.replicaPort, async (c) => {
      await c.configSet('replica-read-only', 'no');
      const keys = await c.keys('*lock:*');
      if (keys.length > 0) await c.del(keys);
      return keys;
    });
    await g.killMaster();
    const killedAt = new Date();
    const deliveredAtKill = sink.deliveries.length;

    // The sentinels agree on the replica (+switch-master), and every worker follows it.
    await waitFor('the sentinels to promote the replica', async () => (await g.masterPortSeenBy(0)) === g.replicaPort, { everyMs: 100 });
    const promotedMaster = `127.0.0.1:${g.replicaPort}`;
    for (const w of workers)
      await w.waitForLog('the worker follows the promoted replica', (l) => l.message === 'redis master changed' && l.master === promotedMaster);

    // Jobs fire again on the promoted master, the probe too, and the stream is delivered.
    await waitFor(
      'every job running again after the failover',
      async () => {
        const runs = await succeededRunsAfter(db.url, killedAt);
        return JOBS.every(([job]) => (runs.get(job) ?? 0) >= 3) && (runs.get('probe') ?? 0) >= 1;
      },
      { limitMs: 120_000 },
    );
    const rows = await waitFor(
      'every message final',
      async () => {
        const r = await withClient(db.url, (c) =>
          c.query<{ idempotency_key: string; status: string; resolution: string | null }>(`SELECT idempotency_key, status, resolution FROM scheduled_messages`),
        );
        return r.rows.length === MESSAGES && r.rows.every((row) => FINAL.includes(row.status)) ? r.rows : undefined;
      },
      { limitMs: 120_000, everyMs: 250 },
    );
    const health = await waitFor('redis connected in /health again', async () => {
      const states = await Promise.all(workers.map(async (w) => (await w.get('/health')).json().services.redis));
      return states.every((s) => s === 'connected') ? states : undefined;
    });
    expect(health).toEqual(['connected', 'connected', 'connected']);

    // No restart: each worker started once and is still running.
    expect(workers.map((w) => ({ worker: w.name, exit: w.child.exitCode, signal: w.child.signalCode }))).toEqual(
      workers.map((w) => ({ worker: w.name, exit: null, signal: null })),
    );
    expect(workers.map((w) => w.logs.filter((l) => l.message === 'crm-worker started').length)).toEqual([1, 1, 1]);

    // Every message delivered once: no worker crashed, so no resend is allowed at all.
    expect(rows.filter((r) => r.status !== 'sent')).toEqual([]);
    expect(sink.deliveredKeys()).toEqual(new Set(requests.map((r) => r.idempotencyKey)));
    expect(sink.deliveries).toHaveLength(MESSAGES);
    expect(sink.duplicates).toEqual([]);
    expect(sink.overlaps).toEqual([]);

    for (const w of workers) w.kill('SIGTERM');
    const exits = await Promise.all(workers.map((w) => w.waitForExit()));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);

    // At most one run per (job, fire time) and no write after a lost lease, whatever Redis lost.
    const invariants = await checkJobInvariants(db.url, workers);
    expectJobInvariants(invariants);
    const overlaps = await leaseOverlaps(db.url);
    // Two holders at once happen only here, after the lost lease writes; of two overlapping runs
    // the fence lets at most one finish (the older one's next write meets a newer epoch).
    expect(overlaps.filter((o) => o.first_outcome === 'succeeded' && o.second_outcome === 'succeeded')).toEqual([]);
    const fencedOut = await withClient(db.url, (c) =>
      c.query<{ n: string }>(`SELECT count(*) AS n FROM job_runs WHERE started_at > $1 AND outcome IN ('lease-lost', 'failed')`, [killedAt]),
    );
    // The counts the README row quotes.
    console.log(
      JSON.stringify({
        locksOnMasterAtKill: locksOnMaster.length,
        locksLostOnReplica: lostOnReplica.length,
        deliveredAtKill,
        leaseOverlaps: overlaps.length,
        overlappingRuns: overlaps.slice(0, 5),
        runsLeaseLostOrFailedAfterKill: Number(fencedOut.rows[0]!.n),
        executions: invariants.executions,
        duplicateRuns: invariants.duplicateRuns.length,
      }),
    );
  }, 300_000);
});
