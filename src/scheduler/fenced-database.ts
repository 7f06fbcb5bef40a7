import type { Database, Queryable, QueryResult } from '../db/database';
import type { Lease } from '../locks/lease';
import { LeaseLostError } from '../locks/renewing-lease';
import type { FencedQueryable } from './job';
import { currentEpoch } from './job-runs';

/**
 * The database as a job sees it. Every statement runs in a transaction that first re-reads the
 * job's lease epoch under FOR SHARE: if a newer holder has taken the job, the write is refused
 * inside the database, not merely by a flag in this process. The new holder's epoch bump waits
 * for our open transaction, so there is no window in which both write.
 */
export class FencedDatabase implements FencedQueryable {
  constructor(
    private readonly db: Database,
    private readonly job: string,
    private readonly epoch: number,
    private readonly lease: Lease,
    private readonly idleInTransactionTimeoutMs: number,
  ) {}

  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    return this.transaction((tx) => tx.query<R>(text, params));
  }

  exec(script: string): Promise<void> {
    return this.transaction((tx) => tx.exec(script));
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.assertHeld();
    return this.db.transaction(async (tx) => {
      if (this.db.kind === 'postgres') {
        // A holder paused inside a transaction must not block its successor for ever.
        await tx.query(`SET LOCAL idle_in_transaction_session_timeout = ${Math.floor(this.idleInTransactionTimeoutMs)}`);
      }
      const epoch = await currentEpoch(tx, this.job);
      if (epoch !== this.epoch) {
        throw new LeaseLostError(this.job, `a newer holder took over (epoch ${epoch} is not ours, ${this.epoch})`);
      }
      this.assertHeld();
      const result = await fn(tx);
      // Last check before COMMIT: a lease that lapsed during the transaction rolls it back.
      this.assertHeld();
      return result;
    });
  }

  private assertHeld(): void {
    if (this.lease.isHeld()) return;
    const reason = this.lease.signal.reason;
    throw reason instanceof LeaseLostError ? reason : new LeaseLostError(this.job, 'the lease is no longer held');
  }
}
