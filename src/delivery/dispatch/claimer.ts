import type { DeliveryConfig } from '../../config/config';
import type { Database } from '../../db/database';
import type { Logger } from '../../logging/logger';
import type { DeliveryMetrics } from '../delivery-metrics';
import { claimDueMessages, type ClaimedMessage } from '../outbox/claim';
import type { ChannelRateLimits } from '../rate-limits';
import type { LocalQueue } from './local-queue';

export interface ClaimerDeps {
  db: Database;
  config: Pick<DeliveryConfig, 'concurrency' | 'leaseMs' | 'staleAfterSeconds'>;
  queue: LocalQueue;
  rateLimits: Pick<ChannelRateLimits, 'pausedChannels'>;
  metrics: Pick<DeliveryMetrics, 'sends' | 'policyActions'>;
  log: Logger;
  strategyOf: (row: ClaimedMessage) => string;
  /** Starts what the local queue holds (SendSlots.launch). */
  launch: () => Promise<void>;
  stopping: () => boolean;
  /** This dispatcher's claim tokens start with it (instance id and a random part). */
  tokenPrefix: string;
}

/**
 * The dispatcher's claims into its local queue: the loop's, a batch at a time, and one beside it
 * for rows a NOTIFY announced while the loop's claim was running (claimBeside). Rows the
 * send-time checks skipped or a policy held are counted and logged here, not queued.
 */
export class Claimer {
  private seq = 0;
  private loopClaiming = false;
  private beside: Promise<void> | undefined;
  private besideAgain = false;

  constructor(private readonly deps: ClaimerDeps) {}

  /** The loop's claim of up to `limit` rows; returns how many the claim took (skipped and held ones too). */
  async claimForLoop(limit: number): Promise<number> {
    this.loopClaiming = true;
    try {
      return await this.claimInto(limit);
    } finally {
      this.loopClaiming = false;
    }
  }

  /**
   * New rows were scheduled (a NOTIFY). Under a backlog the loop claims back to back, and its
   * running claim's pick may have begun before the new rows committed: a transactional row would
   * wait for that claim and then for a whole one of its own, the larger part of its lag while a
   * marketing backlog drained (bench/results/fairness.md). So while the loop's claim runs, this
   * claims at most `concurrency` rows at once beside it (SKIP LOCKED keeps the two apart, as
   * between two workers); the pick's class order puts a due transactional row first. One at a
   * time; a NOTIFY meanwhile runs it again. Not on PGlite: its one connection would only queue it
   * behind the loop's.
   */
  newRowsScheduled(): void {
    if (!this.loopClaiming || this.deps.stopping() || this.deps.db.kind === 'pglite') return;
    if (this.beside) {
      this.besideAgain = true;
      return;
    }
    this.beside = (async () => {
      do {
        this.besideAgain = false;
        const room = this.deps.queue.target().target - this.deps.queue.prefetched.length;
        await this.claimInto(Math.max(1, Math.min(this.deps.config.concurrency, room)));
        await this.deps.launch();
      } while (this.besideAgain && this.loopClaiming && !this.deps.stopping());
    })()
      .catch((err: Error) => {
        // The loop's own pass meets the same fault and backs off; this only says what it was.
        this.deps.log.warn('claim beside the loop failed', { error: err.message });
      })
      .finally(() => {
        this.beside = undefined;
      });
  }

  /** Settles once a claim beside the loop ends (for shutdown); never throws. */
  async settled(): Promise<void> {
    await this.beside;
  }

  private async claimInto(limit: number): Promise<number> {
    const { db, config, metrics, log, queue } = this.deps;
    const token = `${this.deps.tokenPrefix}:${++this.seq}`;
    const claimed = await claimDueMessages(db, {
      token,
      limit,
      leaseMs: config.leaseMs,
      excludeChannels: this.deps.rateLimits.pausedChannels(),
      staleAfterSeconds: config.staleAfterSeconds,
    });
    for (const row of claimed) {
      if (row.skip_reason) {
        metrics.sends.inc({ channel: row.channel, strategy: this.deps.strategyOf(row), result: 'skipped' });
        if (row.skip_reason === 'quiet-hours' || row.skip_reason === 'frequency-cap') {
          metrics.policyActions.inc({ policy: row.skip_reason, action: 'skipped' });
        }
        log.info('message skipped at send time', { messageId: row.id, reason: row.skip_reason });
        continue;
      }
      if (row.hold_reason) {
        // Back to 'scheduled' until held_until: the next wake-up (min due_at) finds it then.
        metrics.policyActions.inc({ policy: row.hold_reason, action: 'held' });
        log.info('message held at send time', { messageId: row.id, reason: row.hold_reason, heldUntil: row.held_until });
        continue;
      }
      queue.add(row, token);
    }
    return claimed.length;
  }
}
