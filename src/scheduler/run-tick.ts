import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database';
import type { Lease, LeaseLocks } from '../locks/lease';
import { LockStoreUnavailableError } from '../locks/lease';
import { LeaseLostError } from '../locks/renewing-lease';
import type { Logger } from '../logging/logger';
import type { Metrics } from '../metrics/metrics';
import type { ErrorReporter } from '../observability/error-reporting';
import { noTracing, type Tracing } from '../observability/tracing';
import { monotonicMs, sleep } from '../util/deadline';
import { FencedDatabase } from './fenced-database';
import type { JobDefinition } from './job';
import { claimTick, finishRun, FireTimeAheadOfDatabaseError, readDatabaseNow, recordedFireTimes, type RunOutcome } from './job-runs';
import { fireTimesBetween } from './missed-ticks';

export type SkipReason = 'contended' | 'already-ran' | 'ahead-of-database' | 'overlap' | 'lock-unavailable' | 'fence-unavailable' | 'shutting-down';

export type TickResult =
  | { ran: true; runId: string; outcome: Exclude<RunOutcome, 'running' | 'abandoned'>; items: number; error?: string }
  | { ran: false; reason: SkipReason; error?: string };

export interface TickDeps {
  db: Database;
  locks: LeaseLocks;
  metrics: Metrics;
  logger: Logger;
  instanceId: string;
  lockTtlMs: number;
  /** Aborted when shutdown has waited long enough for running jobs. */
  shutdownSignal: AbortSignal;
  /** Aborted when shutdown begins (JobContext.stopping); without it, jobs learn only of the abort. */
  stoppingSignal?: AbortSignal;
  /** A span per tick (OTEL_EXPORTER_OTLP_ENDPOINT); none without. */
  tracing?: Tracing;
  /** Failed ticks are reported here (SENTRY_DSN); none without. */
  errors?: ErrorReporter;
}

/**
 * How a scheduled tick keeps to the database's clock. Replicas' clocks disagree by seconds (or
 * step by hours); the lease is per job, so a replica ahead holds lock:<job> for its tick while
 * another fires a different tick of that job and finds the lease taken.
 */
export interface TickTiming {
  /** MISSED_TICK_TOLERANCE_MS: how far a fire time may be from the database's now() and still run. */
  toleranceMs: number;
  /** CRON_TIMEZONE, to enumerate the job's fire times for the catch-up. */
  timezone: string;
  /** Fire times before this (the scheduler's start, database clock) were missed while down: not replayed. */
  notBefore: Date;
}

/** Fire times one catch-up pass runs at most, and looks at at most (a per-second job with a large tolerance). */
const MAX_CATCH_UP_RUNS = 60;
const MAX_CATCH_UP_CANDIDATES = 600;

/**
 * One tick of one job: lease in Redis, fence row in Postgres, handler, outcome, release.
 * Never throws: every failure becomes a TickResult that is logged and counted, so a failing
 * tick never stops the scheduler.
 *
 * With `timing` (scheduled ticks), a fire time far ahead of the database clock is refused, and
 * the lease holder, before it releases, also runs the job's fire times that are due on the
 * database clock within the tolerance and are not in job_runs: the ticks other replicas fired
 * while this one held the lease, which they left to it ('contended'). The fence keeps each once.
 */
export async function runTick(
  deps: TickDeps,
  job: JobDefinition,
  fireTime: Date,
  trigger: 'schedule' | 'manual' = 'schedule',
  timing?: TickTiming,
): Promise<TickResult> {
  const span = (deps.tracing ?? noTracing).startSpan('crm_worker.tick', {
    attributes: { 'crm_worker.job': job.name, 'crm_worker.fire_time': fireTime.toISOString(), 'crm_worker.trigger': trigger },
  });
  let result: TickResult;
  try {
    result = await leaseAndRun(deps, job, fireTime, trigger, timing);
  } catch (err) {
    span.end(err);
    throw err;
  }
  span.setAttributes(
    result.ran
      ? { 'crm_worker.run_id': result.runId, 'crm_worker.outcome': result.outcome, 'crm_worker.items': result.items }
      : { 'crm_worker.outcome': 'skipped', 'crm_worker.skip_reason': result.reason },
  );
  span.end(result.ran && result.outcome === 'failed' ? (result.error ?? 'failed') : undefined);
  return result;
}

/** runTick without its span: the lease, the fenced run, the holder's catch-up, the release. */
async function leaseAndRun(
  deps: TickDeps,
  job: JobDefinition,
  fireTime: Date,
  trigger: 'schedule' | 'manual',
  timing: TickTiming | undefined,
): Promise<TickResult> {
  const log = deps.logger.child({ job: job.name, fireTime: fireTime.toISOString() });
  const skip = skipper(deps, job, log);
  if (deps.shutdownSignal.aborted) return skip('shutting-down');

  let lease;
  try {
    lease = await deps.locks.acquire(job.name, deps.lockTtlMs);
  } catch (err) {
    if (err instanceof LockStoreUnavailableError) return skip('lock-unavailable', err.message);
    throw err;
  }
  // Left to the holder: its catch-up runs this fire time if no one has when its tick ends.
  if (!lease) return skip('contended');

  try {
    const result = await runFenced(deps, job, lease, fireTime, trigger, timing, skip);
    if (timing) await catchUp(deps, job, lease, timing, log);
    return result;
  } finally {
    await lease.release();
  }
}

/** Claims the fence row for one fire time under a held lease, runs the handler, records the outcome. */
async function runFenced(
  deps: TickDeps,
  job: JobDefinition,
  lease: Lease,
  fireTime: Date,
  trigger: 'schedule' | 'manual',
  timing: TickTiming | undefined,
  skip: (reason: SkipReason, error?: string) => TickResult,
): Promise<TickResult> {
  const log = deps.logger.child({ job: job.name, fireTime: fireTime.toISOString() });
  const runId = randomUUID();
  let claimed;
  try {
    claimed = await claimTick(deps.db, {
      job: job.name,
      fireTime,
      trigger,
      instance: deps.instanceId,
      runId,
      lockWaitMs: Math.min(deps.lockTtlMs / 2, 10_000),
      ...(timing ? { maxAheadMs: timing.toleranceMs } : {}),
    });
  } catch (err) {
    if (err instanceof FireTimeAheadOfDatabaseError) return skip('ahead-of-database', err.message);
    return skip('fence-unavailable', (err as Error).message);
  }
  // A replica that ran this very tick may have released the lock already: the fence says so.
  if (!claimed) return skip('already-ran');

  const runLog = log.child({ runId });
  const signal = AbortSignal.any([lease.signal, deps.shutdownSignal]);
  const db = new FencedDatabase(deps.db, job.name, claimed.epoch, lease, deps.lockTtlMs);
  runLog.info('job run started', { epoch: claimed.epoch, trigger });
  deps.metrics.jobRunning.set({ job: job.name }, 1);
  const startedAt = monotonicMs();

  let outcome: Exclude<RunOutcome, 'running' | 'abandoned'>;
  let items = 0;
  let error: string | undefined;
  try {
    const stopping = deps.stoppingSignal ? AbortSignal.any([deps.stoppingSignal, signal]) : signal;
    const handler = job.run({ job: job.name, runId, fireTime, db, logger: runLog, signal, stopping });
    // A handler that ignores its signal must not hold up the outcome or the shutdown: stop
    // waiting when the signal aborts. Whatever it still tries to write is refused by the fence.
    handler.catch((err) => {
      if (signal.aborted) runLog.debug('handler ended after its tick was aborted', { error: String(err) });
    });
    const result = await Promise.race([handler, rejectOnAbort(signal)]);
    items = result.items;
    // A handler that swallowed the abort and returned normally still did not finish its work.
    outcome = lease.signal.aborted ? 'lease-lost' : deps.shutdownSignal.aborted ? 'aborted' : 'succeeded';
  } catch (err) {
    error = (err as Error).message ?? String(err);
    if (err instanceof LeaseLostError || lease.signal.aborted) outcome = 'lease-lost';
    else if (deps.shutdownSignal.aborted) outcome = 'aborted';
    else {
      outcome = 'failed';
      deps.errors?.capture(err, { job: job.name, runId, fireTime: fireTime.toISOString() });
    }
  }
  const seconds = (monotonicMs() - startedAt) / 1000;
  deps.metrics.jobRunning.set({ job: job.name }, 0);
  deps.metrics.jobRuns.inc({ job: job.name, outcome });
  deps.metrics.jobDuration.observe({ job: job.name, outcome }, seconds);
  deps.metrics.itemsProcessed.inc({ job: job.name }, items);
  if (outcome === 'succeeded') deps.metrics.lastSuccess.set({ job: job.name }, Date.now() / 1000);
  if (outcome === 'lease-lost') deps.metrics.leasesLost.inc({ job: job.name });

  await recordOutcome(deps.db, runId, { outcome, items, ...(error ? { error } : {}) }, runLog);
  const level = outcome === 'succeeded' ? 'info' : outcome === 'aborted' ? 'warn' : 'error';
  runLog.log(level, 'job run finished', { outcome, items, durationMs: Math.round(seconds * 1000), ...(error ? { error } : {}) });
  return { ran: true, runId, outcome, items, ...(error ? { error } : {}) };
}

/** Pauses between tries to record an outcome: a killed connection is replaced at once, a restarting server takes longer. */
const OUTCOME_RETRY_DELAYS_MS = [100, 1_000];

/**
 * Records the run's outcome, retried: the run's work is committed by now, and one failed UPDATE
 * (a terminated backend, a connection reset) must not leave a finished run to be marked
 * 'abandoned' by the next holder. The outcome row is history, not a job write: it is recorded even
 * after the lease was lost. If every try fails the next holder marks it abandoned, and a later
 * record still replaces that guess (finishRun).
 */
async function recordOutcome(db: Database, runId: string, result: Parameters<typeof finishRun>[2], runLog: Logger): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await finishRun(db, runId, result);
      return;
    } catch (err) {
      const delayMs = OUTCOME_RETRY_DELAYS_MS[attempt];
      if (delayMs === undefined) {
        runLog.warn('could not record the run outcome; the next holder will mark it abandoned', { error: (err as Error).message, attempts: attempt + 1 });
        return;
      }
      runLog.debug('recording the run outcome failed; retrying', { error: (err as Error).message, delayMs });
      await sleep(delayMs);
    }
  }
}

/**
 * The holder's catch-up: fire times due on the database clock within the tolerance, not in
 * job_runs, run oldest first under the lease still held. One pass, so a job slower than its
 * schedule does not keep the lease forever; what it leaves, the next holder takes. Each is checked
 * against the tolerance again just before it runs: the list is read once, and behind a slow run a
 * fire time that was young enough at the read can be far past it, which is a tick missed, not run.
 */
async function catchUp(deps: TickDeps, job: JobDefinition, lease: Lease, timing: TickTiming, log: Logger): Promise<void> {
  if (deps.shutdownSignal.aborted || deps.stoppingSignal?.aborted || !lease.isHeld()) return;
  let due: Date[];
  // The database clock now, read once and carried on by the monotonic clock.
  let databaseNowMs: () => number;
  try {
    const { databaseNow } = await readDatabaseNow(deps.db);
    const readAt = monotonicMs();
    databaseNowMs = () => databaseNow.getTime() + (monotonicMs() - readAt);
    const from = new Date(Math.max(databaseNow.getTime() - timing.toleranceMs, timing.notBefore.getTime()));
    const recorded = await recordedFireTimes(deps.db, job.name, from, databaseNow);
    due = fireTimesBetween(job.schedule, timing.timezone, from, databaseNow, MAX_CATCH_UP_CANDIDATES)
      .filter((t) => !recorded.has(t.getTime()))
      .slice(0, MAX_CATCH_UP_RUNS);
  } catch (err) {
    log.warn('could not look for ticks left to the lease holder', { error: (err as Error).message });
    return;
  }
  for (const fireTime of due) {
    if (deps.shutdownSignal.aborted || deps.stoppingSignal?.aborted || !lease.isHeld()) return;
    const takeOverLog = deps.logger.child({ job: job.name, fireTime: fireTime.toISOString() });
    const lateMs = databaseNowMs() - fireTime.getTime();
    if (lateMs > timing.toleranceMs) {
      deps.metrics.missedTicks.inc({ job: job.name, reason: 'late' });
      takeOverLog.warn('tick missed: left to the lease holder, it came to it past the tolerance', { lateMs, toleranceMs: timing.toleranceMs });
      continue;
    }
    takeOverLog.info('running a tick another replica left to the lease holder');
    deps.metrics.ticksTakenOver.inc({ job: job.name });
    await runFenced(deps, job, lease, fireTime, 'schedule', timing, skipper(deps, job, takeOverLog));
  }
}

/** Counts and logs a tick not run; the result says why. */
function skipper(deps: TickDeps, job: JobDefinition, log: Logger) {
  return (reason: SkipReason, error?: string): TickResult => {
    deps.metrics.ticksSkipped.inc({ job: job.name, reason });
    if (reason === 'contended') deps.metrics.lockContention.inc({ job: job.name });
    const level = error ? 'warn' : 'debug';
    log.log(level, 'tick skipped', { reason, ...(error ? { error } : {}) });
    return { ran: false, reason, ...(error ? { error } : {}) };
  };
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
