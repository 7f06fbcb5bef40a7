import type { Database } from '../db/database';
import type { Logger } from '../logging/logger';
import { monotonicMs } from '../util/deadline';
import { scheduleNextOccurrences, type NextOccurrences } from './outbox/recurrence';
import { markClaimedSent, type SentRecord } from './outbox/sent';
import { countMissedOccurrences, type DeliveryMetrics } from './delivery-metrics';

interface Pending {
  record: SentRecord;
  recurring: boolean;
  resolve: () => void;
}

const MAX_BATCH = 500;
/**
 * How long the first "sent" waits for others before it is written. At a few sends in flight
 * they finish one at a time, and one statement each would cost the database more than the sends;
 * a few milliseconds gather a batch. The window only widens, by this much, the time in which a
 * crash leaves an accepted message 'sending' (then 'unknown', never resent blindly).
 */
const GATHER_MS = 5;

/**
 * Writes "sent" for accepted messages, batching those that finish together into one statement
 * (a hot backlog finishes hundreds a second). A batch with a recurring message runs in one
 * transaction with the insertion of its next occurrence. A write that keeps failing is retried
 * with backoff; if the process dies first, the row's lease expires and it becomes 'unknown'.
 */
export class SentWriter {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
    private readonly metrics?: Pick<DeliveryMetrics, 'missedOccurrences'>,
  ) {}

  write(record: SentRecord, recurring: boolean): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push({ record, recurring, resolve });
      if (!this.flushing) this.flushing = new Promise<void>((r) => setTimeout(r, GATHER_MS)).then(() => this.flushAll());
    });
  }

  /** Waits for queued writes, at most timeoutMs. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = monotonicMs() + timeoutMs;
    while ((this.flushing || this.queue.length > 0) && monotonicMs() < deadline) {
      await Promise.race([this.flushing, new Promise((r) => setTimeout(r, 50))]);
    }
  }

  /**
   * Gives up writes still failing (the dispatcher stopped): their rows' leases expire and they
   * become 'unknown' as after a crash, instead of a stopped worker retrying forever.
   */
  close(): void {
    this.closed = true;
  }

  private async flushAll(): Promise<void> {
    try {
      let failures = 0;
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, MAX_BATCH);
        try {
          await this.flush(batch);
          this.queue = this.queue.slice(batch.length);
          failures = 0;
          for (const item of batch) item.resolve();
        } catch (err) {
          failures++;
          if (this.closed) {
            this.log.error('could not record sent messages before stopping; their leases will expire to unknown', {
              error: (err as Error).message,
              count: this.queue.length,
            });
            for (const item of this.queue.splice(0)) item.resolve();
            return;
          }
          if (failures === 1 || failures % 10 === 0) {
            this.log.warn('could not record sent messages; retrying', { error: (err as Error).message, count: batch.length });
          }
          // At most 2 s apart: after an outage the marks land soon after the database is back.
          await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(failures, 7))));
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    const records = batch.map((p) => p.record);
    let next: NextOccurrences | undefined;
    const marked = batch.some((p) => p.recurring)
      ? await this.db.transaction(async (tx) => {
          const ids = await markClaimedSent(tx, records);
          next = await scheduleNextOccurrences(tx, ids);
          return ids;
        })
      : await markClaimedSent(this.db, records);
    if (next && next.missed.length > 0) {
      countMissedOccurrences(this.metrics, next);
      this.log.info('recurring messages resumed at their next slot after now; passed occurrences skipped', { missed: next.missed });
    }
    if (marked.length < records.length) {
      // The lease ran out before the mark and the row was reconciled (resent under the same key)
      // or resolved by an operator meanwhile: the receiver deduplicates, nothing else to do.
      const ours = new Set(marked);
      this.log.warn('sent mark not applied: the row was no longer held by this worker', {
        messageIds: records.filter((r) => !ours.has(r.id)).map((r) => r.id),
      });
    }
  }
}
