import type { Database } from '../../src/db/database';
import { LeaseLostError } from '../../src/locks/renewing-lease';
import { FencedDatabase } from '../../src/scheduler/fenced-database';
import type { JobDefinition } from '../../src/scheduler/job';
import { claimTick, finishRun } from '../../src/scheduler/job-runs';
import { runTick } from '../../src/scheduler/run-tick';
import { sleep } from '../../src/util/deadline';
import type { RedisClient } from '../../src/redis/redis-client';
import { connectTestRedis, openMigratedDatabase, replica } from '../support/harness';
import { TEST_REDIS_URL, createKeyPrefix, createTestDatabase, type TestDatabase } from '../support/services';

const RECORD_OUTCOME = /^UPDATE job_runs SET outcome = \$2/;

/**
 * The database, with the connection that first runs the outcome UPDATE terminated by PostgreSQL
 * itself (pg_terminate_backend on its own backend) in the statement's place: a backend killed at
 * the moment a finished run records its outcome, as the PostgreSQL fault test does at random.
 */
function killingFirstOutcome(db: Database): Database & { killed: number } {
  const wrapped = Object.create(db) as Database & { killed: number };
  wrapped.killed = 0;
  wrapped.query = (async (text: string, params?: unknown[], options?: unknown) => {
    if (wrapped.killed === 0 && RECORD_OUTCOME.test(text)) {
      wrapped.killed++;
      return db.query('SELECT pg_terminate_backend(pg_backend_pid())');
    }
    return (db.query as (...a: unknown[]) => Promise<unknown>)(text, params, options);
  }) as Database['query'];
  return wrapped;
}

describe('each tick runs once: Redis lease plus a fence row in PostgreSQL', () => {
  const keys = createKeyPrefix();
  let testDb: TestDatabase;
  let db: Database;
  let redis: RedisClient;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openMigratedDatabase('postgres', testDb.url);
    redis = await connectTestRedis(TEST_REDIS_URL);
  });
  afterAll(async () => {
    await db.close();
    await redis.quit();
    await keys.removeKeys();
    await testDb.drop();
  });

  const countingJob = (name: string, calls: string[]): JobDefinition => ({
    name,
    healthKey: name,
    schedule: '* * * * * *',
    description: 'test job that records who ran it',
    async run(ctx) {
      calls.push(ctx.runId);
      await ctx.db.query('SELECT 1');
      return { items: 1 };
    },
  });

  it('a tick that finished in milliseconds and released its lock is not run again by a late replica', async () => {
    const calls: string[] = [];
    const job = countingJob('fast-job', calls);
    const fireTime = new Date('2026-03-08T07:00:00.000Z');
    const a = replica('replica-a', db, redis, keys.prefix);
    const b = replica('replica-b', db, redis, keys.prefix);

    const first = await runTick(a, job, fireTime);
    expect(first).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 1 }));
    // A's lock is already released: only the fence can stop B now.
    expect(await redis.exists(`${keys.prefix}lock:fast-job`)).toBe(0);
    const second = await runTick(b, job, fireTime);
    expect(second).toEqual({ ran: false, reason: 'already-ran' });
    expect(calls).toHaveLength(1);

    // A replica whose clock is seconds behind fires the same slot later: the same fence applies.
    const skewed = await runTick(replica('replica-c-behind', db, redis, keys.prefix), job, new Date(fireTime));
    expect(skewed).toEqual({ ran: false, reason: 'already-ran' });

    const rows = await db.query<{ instance: string; outcome: string }>('SELECT instance, outcome FROM job_runs WHERE job = $1 AND fire_time = $2', [
      'fast-job',
      fireTime,
    ]);
    expect(rows.rows).toEqual([{ instance: 'replica-a', outcome: 'succeeded' }]);
  });

  it('ticks racing at once run the handler once', async () => {
    const calls: string[] = [];
    const job = countingJob('racing-job', calls);
    const fireTime = new Date('2026-03-08T08:00:00.000Z');
    const replicas = ['r1', 'r2', 'r3', 'r4', 'r5'].map((n) => replica(n, db, redis, keys.prefix));
    const results = await Promise.all(replicas.map((r) => runTick(r, job, fireTime)));
    expect(results.filter((r) => r.ran)).toHaveLength(1);
    expect(calls).toHaveLength(1);
  });

  it('a holder whose epoch was superseded cannot write, even while it still believes it holds the lease', async () => {
    const a = replica('replica-a', db, redis, keys.prefix);
    await db.query('CREATE TABLE IF NOT EXISTS fence_probe (note text)');
    const lease = (await a.locks.acquire('fenced-job', 30_000))!;
    const claimA = (await claimTick(db, {
      job: 'fenced-job',
      fireTime: new Date('2026-01-01T00:00:00Z'),
      trigger: 'schedule',
      instance: 'replica-a',
      runId: '00000000-0000-4000-8000-00000000000a',
      lockWaitMs: 5_000,
    }))!;
    const fencedA = new FencedDatabase(db, 'fenced-job', claimA.epoch, lease, 30_000);
    await fencedA.query(`INSERT INTO fence_probe VALUES ('a-before')`);

    // Redis forgot the lock (restart, failover): B takes over and bumps the epoch.
    await claimTick(db, {
      job: 'fenced-job',
      fireTime: new Date('2026-01-01T00:01:00Z'),
      trigger: 'schedule',
      instance: 'replica-b',
      runId: '00000000-0000-4000-8000-00000000000b',
      lockWaitMs: 5_000,
    });
    expect(lease.isHeld()).toBe(true);
    await expect(fencedA.query(`INSERT INTO fence_probe VALUES ('a-after')`)).rejects.toBeInstanceOf(LeaseLostError);
    const notes = await db.query<{ note: string }>('SELECT note FROM fence_probe ORDER BY note');
    expect(notes.rows.map((r) => r.note)).toEqual(['a-before']);
    // A's run row was marked abandoned by B's claim: the history says what happened.
    const aRun = await db.query<{ outcome: string }>('SELECT outcome FROM job_runs WHERE instance = $1 AND job = $2', ['replica-a', 'fenced-job']);
    expect(aRun.rows).toEqual([{ outcome: 'abandoned' }]);
    await lease.release();
  });

  it('a failing handler is recorded and counted, and the next tick runs normally', async () => {
    let fail = true;
    const job: JobDefinition = {
      name: 'flaky-job',
      healthKey: 'flaky',
      schedule: '* * * * * *',
      description: 'fails once',
      async run() {
        if (fail) throw new Error('provider exploded');
        return { items: 3 };
      },
    };
    const a = replica('replica-a', db, redis, keys.prefix);
    const failed = await runTick(a, job, new Date('2026-02-01T00:00:00Z'));
    expect(failed).toEqual(expect.objectContaining({ ran: true, outcome: 'failed', error: 'provider exploded' }));
    fail = false;
    const ok = await runTick(a, job, new Date('2026-02-01T00:00:01Z'));
    expect(ok).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 3 }));
    const metrics = await a.metrics.registry.getSingleMetricAsString('crm_worker_job_runs_total');
    expect(metrics).toContain('crm_worker_job_runs_total{job="flaky-job",outcome="failed"} 1');
    expect(metrics).toContain('crm_worker_job_runs_total{job="flaky-job",outcome="succeeded"} 1');
    expect(await redis.exists(`${keys.prefix}lock:flaky-job`)).toBe(0);
  });

  it('a tick whose lock is held elsewhere is skipped and counted as contention', async () => {
    const calls: string[] = [];
    const job = countingJob('held-job', calls);
    const holder = replica('holder', db, redis, keys.prefix);
    const lease = (await holder.locks.acquire('held-job', 10_000))!;
    const other = replica('other', db, redis, keys.prefix);
    expect(await runTick(other, job, new Date('2026-02-02T00:00:00Z'))).toEqual({ ran: false, reason: 'contended' });
    expect(calls).toHaveLength(0);
    expect(await other.metrics.registry.getSingleMetricAsString('crm_worker_lock_contention_total')).toContain(
      'crm_worker_lock_contention_total{job="held-job"} 1',
    );
    await lease.release();
  });

  describe('scheduled ticks keep to the database clock (issue 11 item 1)', () => {
    const databaseNow = async () => new Date((await db.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now);
    const timing = (notBefore: Date) => ({ toleranceMs: 5_000, timezone: 'UTC', notBefore });

    it('refuses a fire time hours ahead of the database clock (a clock stepped forward), and uses none up', async () => {
      const calls: string[] = [];
      const job = countingJob('stepped-forward-job', calls);
      const now = await databaseNow();
      const hoursAhead = new Date(Math.ceil((now.getTime() + 3 * 3_600_000) / 1000) * 1000);
      const a = replica('replica-stepped-forward', db, redis, keys.prefix);
      const result = await runTick(a, job, hoursAhead, 'schedule', timing(now));
      expect(result).toEqual(expect.objectContaining({ ran: false, reason: 'ahead-of-database' }));
      const future = await db.query("SELECT 1 FROM job_runs WHERE job = $1 AND fire_time > now() + interval '1 hour'", [job.name]);
      expect(future.rowCount).toBe(0);
      // The holder's catch-up may run this per-second job's seconds that came due on the database
      // clock since `now` (under load a second or more passes): those are due ticks, not the
      // refused one. Every run the handler saw is such a tick, at or before the database's now().
      const runs = await db.query<{ run_id: string }>('SELECT run_id FROM job_runs WHERE job = $1 AND fire_time <= now()', [job.name]);
      expect([...calls].sort()).toEqual(runs.rows.map((r) => r.run_id).sort());
    });

    it('a tick that found the lease taken is run by the holder before it releases, once', async () => {
      const calls: string[] = [];
      const job = countingJob('left-to-holder-job', calls);
      const now = await databaseNow();
      const second = Math.floor(now.getTime() / 1000) * 1000;
      const own = new Date(second);
      const left = new Date(second - 1000);
      const holder = replica('holder-catching-up', db, redis, keys.prefix);
      const contender = replica('contender', db, redis, keys.prefix);
      // The contender fires `left` while the lease is held by another run: it is left to the holder.
      const lease = (await holder.locks.acquire(job.name, 10_000))!;
      expect(await runTick(contender, job, left, 'schedule', timing(new Date(second - 3000)))).toEqual({ ran: false, reason: 'contended' });
      await lease.release();
      const result = await runTick(holder, job, own, 'schedule', timing(new Date(second - 3000)));
      expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
      const rows = await db.query<{ fire_time: Date; instance: string }>('SELECT fire_time, instance FROM job_runs WHERE job = $1 ORDER BY fire_time', [
        job.name,
      ]);
      const times = rows.rows.map((r) => new Date(r.fire_time).getTime());
      expect(times).toContain(left.getTime());
      expect(times).toContain(own.getTime());
      expect(new Set(times).size).toBe(times.length);
      expect(rows.rows.every((r) => r.instance === 'holder-catching-up')).toBe(true);
      expect(calls).toHaveLength(rows.rowCount ?? 0);
      // The contender comes back for `left` later: the fence says it ran.
      expect(await runTick(contender, job, left, 'schedule', timing(new Date(second - 3000)))).toEqual(
        expect.objectContaining({ ran: false, reason: 'already-ran' }),
      );
    });
    it('runs a tick left to it only while it is within the tolerance: one that aged past it behind a slow run is counted missed', async () => {
      const now = await databaseNow();
      const second = Math.floor(now.getTime() / 1000) * 1000;
      // Left unrun (no job_runs row), oldest first: `slow` takes 4 s, so the next one (second -
      // 1000), inside the 3.5 s tolerance when the catch-up reads the list, is about 5 s late once
      // `slow` is done. Nothing before `slow` counts (notBefore).
      const slow = second - 2000;
      const job: JobDefinition = {
        name: 'aging-catch-up-job',
        healthKey: 'aging-catch-up-job',
        schedule: '* * * * * *',
        description: 'test job whose oldest left tick is slow',
        async run(ctx) {
          if (ctx.fireTime.getTime() === slow) await sleep(4_000);
          await ctx.db.query('SELECT 1');
          return { items: 1 };
        },
      };
      const holder = replica('holder-aging', db, redis, keys.prefix);
      const result = await runTick(holder, job, new Date(second), 'schedule', { toleranceMs: 3_500, timezone: 'UTC', notBefore: new Date(slow) });
      expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
      const rows = await db.query<{ fire_time: Date }>('SELECT fire_time FROM job_runs WHERE job = $1 ORDER BY fire_time', [job.name]);
      // Before: second - 1000 ran too, about 5 s after its fire time.
      expect(rows.rows.map((r) => new Date(r.fire_time).toISOString())).toEqual([new Date(slow).toISOString(), new Date(second).toISOString()]);
      expect(await holder.metrics.registry.getSingleMetricAsString('crm_worker_missed_ticks_total')).toMatch(
        /crm_worker_missed_ticks_total\{job="aging-catch-up-job",reason="late"\} [1-9]/,
      );
    });
  });

  describe('a finished run whose outcome UPDATE loses its connection', () => {
    const outcomeJob: JobDefinition = {
      name: 'outcome-job',
      healthKey: 'outcome-job',
      schedule: '* * * * * *',
      description: 'test job that writes once',
      async run(ctx) {
        await ctx.db.query('SELECT 1');
        return { items: 3 };
      },
    };

    it('is recorded as succeeded on a new connection, not left for the next holder to call abandoned', async () => {
      const flaky = killingFirstOutcome(db);
      const fireTime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
      const result = await runTick(replica('replica-a', flaky, redis, keys.prefix), outcomeJob, fireTime);
      expect(flaky.killed).toBe(1);
      expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 3 }));
      const rows = await db.query<{ outcome: string; items: number }>('SELECT outcome, items FROM job_runs WHERE job = $1', [outcomeJob.name]);
      expect(rows.rows).toEqual([{ outcome: 'succeeded', items: 3 }]);
    });

    it("a late outcome replaces the next holder's 'abandoned'", async () => {
      const fireTime = new Date(Math.floor(Date.now() / 1000) * 1000 - 120_000);
      const a = replica('replica-b', db, redis, keys.prefix);
      const result = await runTick(a, { ...outcomeJob, name: 'late-outcome-job', healthKey: 'late-outcome-job' }, fireTime);
      expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
      const runId = (result as { runId: string }).runId;
      // As if its record had failed and the next holder had guessed; then the record comes through.
      await db.query(`UPDATE job_runs SET outcome = 'abandoned' WHERE run_id = $1`, [runId]);
      await finishRun(db, runId, { outcome: 'succeeded', items: 3 });
      const rows = await db.query<{ outcome: string }>('SELECT outcome FROM job_runs WHERE run_id = $1', [runId]);
      expect(rows.rows).toEqual([{ outcome: 'succeeded' }]);
    });
  });
});
