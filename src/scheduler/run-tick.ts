import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database';
import type { LeaseLocks } from '../locks/lease';
import { LockStoreUnavailableError } from '../locks/lease';
import { LeaseLostError } from '../locks/renewing-lease';
import type { Logger } from '../logging/logger';
import type { Metrics } from '../metrics/metrics';
import { monotonicMs } from '../util/deadline';
import { FencedDatabase } from './fenced-database';
import type { JobDefinition } from './job';
import { claimTick, finishRun, type RunOutcome } from './job-runs';

export type SkipReason = 'contended' | 'already-ran' | 'overlap' | 'lock-unavailable' | 'fence-unavailable' | 'shutting-down';

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
}

/**
 * One tick of one job: lease in Redis, fence row in Postgres, handler, outcome, release.
 * Never throws: every failure becomes a TickResult that is logged and counted, so a failing
 * tick never stops the scheduler.
 */
export async function runTick(
  deps: TickDeps,
  job: JobDefinition,
  fireTime: Date,
  trigger: 'schedule' | 'manual' = 'schedule',
): Promise<TickResult> {
  const log = deps.logger.child({ job: job.name, fireTime: fireTime.toISOString() });
  const skip = (reason: SkipReason, error?: string): TickResult => {
    deps.metrics.ticksSkipped.inc({ job: job.name, reason });
    if (reason === 'contended') deps.metrics.lockContention.inc({ job: job.name });
    const level = error ? 'warn' : 'debug';
    log.log(level, 'tick skipped', { reason, ...(error ? { error } : {}) });
    return { ran: false, reason, ...(error ? { error } : {}) };
  };
  if (deps.shutdownSignal.aborted) return skip('shutting-down');

  let lease;
  try {
    lease = await deps.locks.acquire(job.name, deps.lockTtlMs);
  } catch (err) {
    if (err instanceof LockStoreUnavailableError) return skip('lock-unavailable', err.message);
    throw err;
  }
  if (!lease) return skip('contended');

  const runId = randomUUID();
  try {
    let claimed;
    try {
      claimed = await claimTick(deps.db, {
        job: job.name,
        fireTime,
        trigger,
        instance: deps.instanceId,
        runId,
        lockWaitMs: Math.min(deps.lockTtlMs / 2, 10_000),
      });
    } catch (err) {
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
      else outcome = 'failed';
    }
    const seconds = (monotonicMs() - startedAt) / 1000;
    deps.metrics.jobRunning.set({ job: job.name }, 0);
    deps.metrics.jobRuns.inc({ job: job.name, outcome });
    deps.metrics.jobDuration.observe({ job: job.name, outcome }, seconds);
    deps.metrics.itemsProcessed.inc({ job: job.name }, items);
    if (outcome === 'succeeded') deps.metrics.lastSuccess.set({ job: job.name }, Date.now() / 1000);
    if (outcome === 'lease-lost') deps.metrics.leasesLost.inc({ job: job.name });

    try {
      // The outcome row is history, not a job write: it is recorded even after the lease was lost.
      await finishRun(deps.db, runId, { outcome, items, ...(error ? { error } : {}) });
    } catch (err) {
      runLog.warn('could not record the run outcome; the next holder will mark it abandoned', {
        error: (err as Error).message,
      });
    }
    const level = outcome === 'succeeded' ? 'info' : outcome === 'aborted' ? 'warn' : 'error';
    runLog.log(level, 'job run finished', { outcome, items, durationMs: Math.round(seconds * 1000), ...(error ? { error } : {}) });
    return { ran: true, runId, outcome, items, ...(error ? { error } : {}) };
  } finally {
    await lease.release();
  }
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
