import type { Queryable } from '../db/database';
import type { Logger } from '../logging/logger';

/** A database handle whose every statement is fenced by the job's lease (see FencedDatabase). */
export interface FencedQueryable extends Queryable {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

/** What a job's handler receives for one tick. */
export interface JobContext {
  readonly job: string;
  readonly runId: string;
  /** The scheduled fire time of this tick (not the wall-clock start). */
  readonly fireTime: Date;
  /** Writes through here stop the moment the lease is lost. */
  readonly db: FencedQueryable;
  readonly logger: Logger;
  /** Aborts when the lease is lost or shutdown ran out of patience; stop work promptly. */
  readonly signal: AbortSignal;
  /**
   * Aborts as soon as the worker begins shutting down (and whenever `signal` does). A job that works
   * in batches returns at its next batch boundary, leaving the rest to the next tick, instead of
   * running on until SHUTDOWN_TIMEOUT_MS aborts it mid-batch.
   */
  readonly stopping: AbortSignal;
}

export interface JobResult {
  /** How many items the tick processed (tenants suspended, calls removed, messages queued, ...). */
  items: number;
}

/** One cron job, defined in one place. Dependencies come from the factory that builds it. */
export interface JobDefinition {
  /** Also the lock name: the lease key is lock:<name>. */
  readonly name: string;
  /** The key under which /health jobs and /metrics JSON show this job (the design's names). */
  readonly healthKey: string;
  /** Cron with an optional seconds field, evaluated in CRON_TIMEZONE. */
  readonly schedule: string;
  readonly description: string;
  run(ctx: JobContext): Promise<JobResult>;
}
