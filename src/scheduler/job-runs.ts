import type { Database, Queryable } from '../db/database';

/** SQL for the job-run history and the per-job lease epochs: the fence lives here. */

export type RunOutcome = 'running' | 'succeeded' | 'failed' | 'aborted' | 'lease-lost' | 'abandoned';

export interface JobRunRow {
  id: number;
  job: string;
  fire_time: Date;
  trigger: 'schedule' | 'manual';
  instance: string;
  run_id: string;
  lease_epoch: number;
  started_at: Date;
  finished_at: Date | null;
  outcome: RunOutcome;
  items: number;
  error: string | null;
}

export interface ClaimedTick {
  epoch: number;
}

class TickAlreadyClaimed extends Error {}

/**
 * The fire time lies further ahead of the database's clock than the tolerance: this worker's
 * clock runs ahead (a step forward, a bad NTP source). Claiming it now would use up a future
 * tick, so it is refused; the tick runs when it is due, on whichever replica then holds the lease.
 */
export class FireTimeAheadOfDatabaseError extends Error {
  constructor(
    readonly fireTime: Date,
    readonly databaseNow: Date,
  ) {
    super(`fire time ${fireTime.toISOString()} is ${fireTime.getTime() - databaseNow.getTime()} ms ahead of the database clock (${databaseNow.toISOString()})`);
    this.name = 'FireTimeAheadOfDatabaseError';
  }
}

/**
 * Claims (job, fire time) for this run and takes the next lease epoch, in one transaction.
 * Returns null when another run already has this tick: the unique row is the fence. The epoch
 * is only bumped when we will run, so a replica that merely lost the race disturbs nobody.
 */
export async function claimTick(
  db: Database,
  claim: {
    job: string;
    fireTime: Date;
    trigger: 'schedule' | 'manual';
    instance: string;
    runId: string;
    lockWaitMs: number;
    /** Refuse (FireTimeAheadOfDatabaseError) a fire time more than this far ahead of the database's now(). */
    maxAheadMs?: number;
  },
): Promise<ClaimedTick | null> {
  try {
    return await db.transaction(async (tx) => {
      if (db.kind === 'postgres') await tx.query(`SET LOCAL lock_timeout = ${Math.floor(claim.lockWaitMs)}`);
      if (claim.maxAheadMs !== undefined) {
        const { databaseNow } = await readDatabaseNow(tx);
        if (claim.fireTime.getTime() - databaseNow.getTime() > claim.maxAheadMs) {
          throw new FireTimeAheadOfDatabaseError(claim.fireTime, databaseNow);
        }
      }
      const inserted = await tx.query(
        `INSERT INTO job_runs (job, fire_time, trigger, instance, run_id, lease_epoch)
         VALUES ($1, $2, $3, $4, $5, 0)
         ON CONFLICT (job, fire_time) DO NOTHING
         RETURNING id`,
        [claim.job, claim.fireTime, claim.trigger, claim.instance, claim.runId],
      );
      if (inserted.rowCount === 0) throw new TickAlreadyClaimed();
      // Waits for any fenced transaction of an older holder to finish (it holds FOR SHARE).
      const lease = await tx.query<{ epoch: string }>(
        `INSERT INTO job_leases (job, epoch, holder) VALUES ($1, 1, $2)
         ON CONFLICT (job) DO UPDATE SET epoch = job_leases.epoch + 1, holder = EXCLUDED.holder, acquired_at = now()
         RETURNING epoch`,
        [claim.job, claim.instance],
      );
      const epoch = Number(lease.rows[0]!.epoch);
      await tx.query('UPDATE job_runs SET lease_epoch = $1 WHERE run_id = $2', [epoch, claim.runId]);
      // A run still marked running under an older epoch lost its holder (crash, SIGKILL).
      await tx.query(
        `UPDATE job_runs SET outcome = 'abandoned', finished_at = now(),
                error = 'its worker stopped before recording an outcome'
         WHERE job = $1 AND outcome = 'running' AND lease_epoch < $2`,
        [claim.job, epoch],
      );
      return { epoch };
    });
  } catch (err) {
    if (err instanceof TickAlreadyClaimed) return null;
    throw err;
  }
}

/**
 * The run's outcome, from its own worker. It also replaces 'abandoned': that is the next holder's
 * guess when no outcome was recorded in time, and the worker that ran it knows better.
 */
export async function finishRun(db: Queryable, runId: string, result: { outcome: RunOutcome; items: number; error?: string }): Promise<void> {
  await db.query(`UPDATE job_runs SET outcome = $2, items = $3, error = $4, finished_at = now() WHERE run_id = $1 AND outcome IN ('running', 'abandoned')`, [
    runId,
    result.outcome,
    result.items,
    result.error ?? null,
  ]);
}

/** Throws LeaseLostError-compatible info when our epoch is no longer current. */
export async function currentEpoch(tx: Queryable, job: string): Promise<number | undefined> {
  const result = await tx.query<{ epoch: string }>('SELECT epoch FROM job_leases WHERE job = $1 FOR SHARE', [job]);
  const row = result.rows[0];
  return row ? Number(row.epoch) : undefined;
}

export async function recentRuns(db: Queryable, job: string, limit: number): Promise<JobRunRow[]> {
  const result = await db.query<JobRunRow>(
    `SELECT id, job, fire_time, trigger, instance, run_id, lease_epoch, started_at, finished_at, outcome, items, error
     FROM job_runs WHERE job = $1 ORDER BY fire_time DESC LIMIT $2`,
    [job, limit],
  );
  return result.rows.map((r) => ({ ...r, id: Number(r.id), lease_epoch: Number(r.lease_epoch) }));
}

/** A run with its keyset position: the fire time in whole microseconds (a Date keeps only milliseconds). */
export type JobRunPageRow = JobRunRow & { fire_key: string };

/**
 * One page of a job's runs, newest fire time first; the caller reads `limit + 1` to know whether
 * there is more. `before` is the fire key and id of the last run of the page before: a keyset
 * that does not shift when new runs are recorded meanwhile.
 */
export async function runsPage(db: Queryable, job: string, page: { limit: number; before?: { fireKey: string; id: string } }): Promise<JobRunPageRow[]> {
  const result = await db.query<JobRunPageRow>(
    `SELECT id, job, fire_time, trigger, instance, run_id, lease_epoch, started_at, finished_at, outcome, items, error,
            (extract(epoch FROM fire_time) * 1000000)::bigint::text AS fire_key
       FROM job_runs
      WHERE job = $1
        AND ($2::bigint IS NULL OR (fire_time, id) < (timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::bigint))
      ORDER BY fire_time DESC, id DESC LIMIT $4`,
    [job, page.before?.fireKey ?? null, page.before?.id ?? null, page.limit],
  );
  return result.rows.map((r) => ({ ...r, id: Number(r.id), lease_epoch: Number(r.lease_epoch) }));
}

/** The database's clock: the one every replica agrees on, whatever its own clock says. */
export async function readDatabaseNow(db: Queryable): Promise<{ databaseNow: Date }> {
  const result = await db.query<{ now: Date | string }>('SELECT now() AS now');
  return { databaseNow: new Date(result.rows[0]!.now) };
}

/** Fire times of `job` recorded (run or running, by anyone) in [from, to]: what a catch-up must not repeat. */
export async function recordedFireTimes(db: Queryable, job: string, from: Date, to: Date): Promise<Set<number>> {
  const result = await db.query<{ fire_time: Date | string }>('SELECT fire_time FROM job_runs WHERE job = $1 AND fire_time >= $2 AND fire_time <= $3', [
    job,
    from,
    to,
  ]);
  return new Set(result.rows.map((r) => new Date(r.fire_time).getTime()));
}

/** The newest recorded fire time per job: where missed-tick counting starts after a restart. */
export async function latestFireTimes(db: Queryable): Promise<Map<string, Date>> {
  const result = await db.query<{ job: string; latest: Date }>(`SELECT job, max(fire_time) AS latest FROM job_runs WHERE trigger = 'schedule' GROUP BY job`);
  return new Map(result.rows.map((r) => [r.job, new Date(r.latest)]));
}
