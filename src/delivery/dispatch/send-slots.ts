import type { Database } from '../../db/database';
import type { Logger } from '../../logging/logger';
import { monotonicMs } from '../../util/deadline';
import { markSending, releaseClaims, renewSendingLeases, type ClaimedMessage } from '../outbox/claim';
import type { ChannelRateLimits } from '../rate-limits';
import type { LocalQueue, QueueConfig } from './local-queue';
import { persistWrite } from './persist';

export interface SendSlotsDeps {
  db: Database;
  queue: LocalQueue;
  config: QueueConfig;
  rateLimits: Pick<ChannelRateLimits, 'pausedChannels'>;
  log: Logger;
  /** Sends one marked row in its slot; the slot frees when it settles. */
  deliver: (row: ClaimedMessage, token: string) => Promise<void>;
  /** The loop's wake-up: a freed slot may mean more to claim. */
  wakeUp: () => void;
  stopping: () => boolean;
  /** Aborted when sends are cut off at shutdown: post-send writes stop retrying. */
  abortSends: AbortSignal;
}

/**
 * Moves rows from the local queue into the send slots: marks groups 'sending' (one statement by
 * id and claim token), starts them as slots free, and keeps the leases of rows waiting for a slot
 * renewed. A row cancelled while in the local queue is not marked, so not sent.
 */
export class SendSlots {
  private launching: Promise<void> | undefined;
  private launchAgain = false;

  constructor(private readonly deps: SendSlotsDeps) {}

  /**
   * Fills free send slots from the local queue: marks rows 'sending' and starts them. One run at a
   * time (rerun when asked meanwhile); starting a row already marked never waits for it.
   */
  launch(): Promise<void> {
    if (this.launching) {
      this.launchAgain = true;
      return this.launching;
    }
    this.launching = this.launchFromQueue().finally(() => {
      this.launching = undefined;
    });
    return this.launching;
  }

  /** Settles once a launch in progress ends (for shutdown); never throws. */
  async settled(): Promise<void> {
    await this.launching?.catch(() => undefined);
  }

  private async launchFromQueue(): Promise<void> {
    const { config, db, rateLimits, queue } = this.deps;
    do {
      this.launchAgain = false;
      for (;;) {
        this.startMarked();
        if (this.deps.stopping()) break;
        const group = queue.nextMarkGroup();
        if (group.length === 0) break;
        // Held too long (its send-time checks are old and its lease near its end) or its channel
        // paused meanwhile: back to 'scheduled' instead of started.
        const paused = new Set(rateLimits.pausedChannels());
        const heldTooLong = queue.heldTooLongBefore();
        const giveBack = group.filter((g) => g.heldSince < heldTooLong || paused.has(g.row.channel));
        const marking = group.filter((g) => !giveBack.includes(g));
        if (giveBack.length > 0) await this.release(giveBack);
        if (marking.length === 0) continue;
        let marked: Array<{ id: string; attempts: number }>;
        // Taken before the statement, so this process never counts on more lease than the database gave.
        const markedAt = monotonicMs();
        try {
          marked = await markSending(db, { rows: marking.map((g) => ({ id: g.row.id, token: g.token })), leaseMs: config.leaseMs });
        } catch (err) {
          // Not known whether the mark applied: keep the rows; the mark is repeatable for this token.
          queue.prefetched.unshift(...marking);
          throw err;
        }
        const attemptsById = new Map(marked.map((m) => [m.id, m.attempts]));
        for (const g of marking) {
          const attempts = attemptsById.get(g.row.id);
          if (attempts === undefined) {
            this.deps.log.info('claimed message not sent: cancelled, rescheduled or taken back before its send started', {
              messageId: g.row.id,
            });
            continue;
          }
          queue.marked.push({ row: { ...g.row, attempts }, token: g.token, lease: { until: markedAt + config.leaseMs } });
        }
        // Shutdown began during the mark: nothing starts now; marked rows go back in stop().
        if (this.deps.stopping()) break;
      }
    } while (this.launchAgain && !this.deps.stopping());
  }

  /** Starts marked rows in free slots, in order; synchronous, so a freed slot refills at once. */
  private startMarked(): void {
    while (!this.deps.stopping()) {
      const next = this.deps.queue.startNext();
      if (!next) return;
      const { row, token } = next;
      void this.deps.deliver(row, token).finally(() => {
        this.deps.queue.inFlight.delete(row.id);
        this.startMarked();
        void this.launch().catch(() => this.deps.wakeUp());
        this.deps.wakeUp();
      });
    }
  }

  /** Returns rows from the local queue to 'scheduled' (one statement per claim token). */
  async release(rows: ReadonlyArray<{ row: ClaimedMessage; token: string }>): Promise<void> {
    const byToken = new Map<string, string[]>();
    for (const { row, token } of rows) byToken.set(token, [...(byToken.get(token) ?? []), row.id]);
    for (const [token, ids] of byToken) await releaseClaims(this.deps.db, { ids, token });
  }

  /**
   * Renews the leases of waiting rows before they run out: with every slot held by a slow
   * receiver, rows marked ahead waited longer than the lease, another worker's sweep took them
   * and resent them while this one still sent them. A row that is not renewed was taken back
   * already; its send-start check gives it up.
   */
  async renewWaitingLeases(): Promise<void> {
    const { queue, config } = this.deps;
    const { renewBelowMs } = queue.leaseThresholds();
    const now = monotonicMs();
    const due = queue.waitingLeases().filter((w) => w.lease.until - now < renewBelowMs);
    if (due.length === 0) return;
    const renewedAt = monotonicMs();
    const renewed = new Set(await renewSendingLeases(this.deps.db, { rows: due, leaseMs: config.leaseMs }));
    for (const w of due) if (renewed.has(w.id)) w.lease.until = renewedAt + config.leaseMs;
  }

  /**
   * True when this worker still holds the row's lease, by its monotonic clock, for the whole
   * send. A lease too short is renewed first. A row that cannot be renewed (a lease sweep took
   * it, and another worker may be sending it now) is not sent, and goes back if it is still ours.
   */
  async leaseCoversSend(row: ClaimedMessage, token: string): Promise<boolean> {
    const { db, config, queue, log } = this.deps;
    const entry = queue.inFlight.get(row.id);
    if (!entry) return false;
    const { startNeedsMs } = queue.leaseThresholds();
    if (entry.lease.until - monotonicMs() >= startNeedsMs) return true;
    const renewedAt = monotonicMs();
    let renewed = false;
    try {
      renewed = (await renewSendingLeases(db, { rows: [{ id: row.id, token }], leaseMs: config.leaseMs })).length > 0;
    } catch (err) {
      log.warn('could not renew a lease before its send', { messageId: row.id, error: (err as Error).message });
    }
    if (renewed) {
      entry.lease.until = renewedAt + config.leaseMs;
      if (entry.lease.until - monotonicMs() >= startNeedsMs) return true;
    }
    log.warn('message not sent by this worker: its lease would not cover the send', { messageId: row.id, renewed });
    await persistWrite(() => releaseClaims(db, { ids: [row.id], token }), log, this.deps.abortSends);
    return false;
  }

  /** The send of a row in its slot is about to start: from here its outcome is unknown until it answers. */
  markStarted(id: string): void {
    const entry = this.deps.queue.inFlight.get(id);
    if (entry) entry.started = true;
  }
}
