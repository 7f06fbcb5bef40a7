import type { ChannelName } from '../../channels/channel';
import type { DeliveryConfig } from '../../config/config';
import { monotonicMs } from '../../util/deadline';
import { MESSAGE_CLASSES } from '../message-class';
import type { ClaimedMessage } from '../outbox/claim';

/** Until when (monotonicMs) this process may count on a row's lease; shared by its queue entry and its slot. */
export interface HeldLease {
  until: number;
}

/** A claimed row in the local queue; heldSince is monotonicMs() at the claim. */
export interface Prefetched {
  row: ClaimedMessage;
  token: string;
  heldSince: number;
}

/** A row marked 'sending' whose send has not started yet. */
export interface Marked {
  row: ClaimedMessage;
  token: string;
  lease: HeldLease;
}

/** A row in a send slot; started once channel.send was called (its outcome is then unknown until it answers). */
export interface InFlight {
  token: string;
  started: boolean;
  lease: HeldLease;
}

export type QueueConfig = Pick<DeliveryConfig, 'batchSize' | 'concurrency' | 'leaseMs' | 'sendTimeoutMs' | 'markAhead'>;

/**
 * The dispatcher's local queue: rows claimed and not yet marked (prefetched), rows marked
 * 'sending' waiting for a slot (marked), and rows in the send slots (inFlight). It holds the
 * arithmetic of how much to hold and what to mark next; it makes no database call.
 *
 * Prefetched rows are kept by class (transactional, followup, marketing: message-class.ts), and
 * inside a class in the order the claims handed them out (the pick's: round-robin across tenants,
 * due order inside a tenant). A transactional row claimed while a marketing backlog is queued
 * goes ahead of it: it waits only for the sends in the slots and the rows already marked.
 */
export class LocalQueue {
  readonly prefetched: Prefetched[] = [];
  readonly marked: Marked[] = [];
  readonly inFlight = new Map<string, InFlight>();
  /** Moving average of how long one send holds its slot, to keep the queue sendable within the lease. */
  private avgSendMs = 0;

  constructor(
    private readonly config: QueueConfig,
    /** Channels whose unknown outcomes are resent under the same key: only these are marked ahead. */
    private readonly idempotentChannels: readonly ChannelName[],
  ) {}

  add(row: ClaimedMessage, token: string): void {
    const entry = { row, token, heldSince: monotonicMs() };
    // After every row of its class or a higher one (usually the end: a claim comes in class order).
    const rank = classRank(row);
    let at = this.prefetched.length;
    while (at > 0 && classRank(this.prefetched[at - 1]!.row) > rank) at--;
    this.prefetched.splice(at, 0, entry);
  }

  recordSendTime(tookMs: number): void {
    this.avgSendMs = this.avgSendMs === 0 ? tookMs : this.avgSendMs * 0.9 + tookMs * 0.1;
  }

  /**
   * How many claimed rows to hold: at most batchSize, and no more than the send slots get through
   * in a quarter of the lease at the recent send speed (a row held until its lease ran out would
   * be taken back and claimed again by someone). Refill when the queue is down to lowWater.
   */
  target(): { target: number; lowWater: number } {
    const { batchSize, concurrency, leaseMs } = this.config;
    const sendable = this.avgSendMs > 0 ? Math.floor((concurrency * leaseMs) / 4 / this.avgSendMs) : batchSize;
    const target = Math.max(1, Math.min(batchSize, Math.max(concurrency, sendable)));
    const lowWater = Math.max(1, Math.min(target, Math.max(concurrency, Math.ceil(target / 2))));
    return { target, lowWater };
  }

  /** The monotonic instant before which a claimed row has been held past half its lease. */
  heldTooLongBefore(): number {
    return monotonicMs() - this.config.leaseMs / 2;
  }

  /**
   * Takes the prefetched rows held past half the lease. Not always a prefix of the queue: a
   * transactional row claimed later sits ahead of older marketing rows.
   */
  takeHeldTooLong(): Prefetched[] {
    const before = this.heldTooLongBefore();
    if (!this.prefetched.some((g) => g.heldSince < before)) return [];
    const stale = this.prefetched.filter((g) => g.heldSince < before);
    const kept = this.prefetched.filter((g) => g.heldSince >= before);
    this.prefetched.splice(0, this.prefetched.length, ...kept);
    return stale;
  }

  /**
   * The next rows to mark 'sending', in queue order: one per free slot, plus up to markAhead
   * (DELIVERY_MARK_AHEAD) marked before a slot is free, so a slot that frees starts its next send
   * at once instead of waiting for a statement (at 5 sends in flight that wait was most of the
   * time a message spent in its slot). Only rows of channels whose unknown outcomes are resent
   * under the same key are marked ahead: if this process dies, a row marked but not started
   * becomes 'unknown' like a row in flight, which costs those channels a repeat the receiver
   * drops, and would cost the others an operator's look. The refill waits until half the
   * marked-ahead rows are used, so one mark covers several rows.
   */
  nextMarkGroup(): Prefetched[] {
    const { concurrency, markAhead } = this.config;
    const free = Math.max(0, concurrency - this.inFlight.size - this.marked.length);
    const ahead = this.marked.length > markAhead / 2 ? 0 : markAhead - this.marked.length;
    let take = 0;
    while (take < this.prefetched.length) {
      const canMarkAhead = this.idempotentChannels.includes(this.prefetched[take]!.row.channel);
      if (take < free || (canMarkAhead && take < free + ahead)) take++;
      else break;
    }
    return this.prefetched.splice(0, take);
  }

  /** The next marked row for a free slot, moved into the slots; undefined when none or no slot is free. */
  startNext(): Marked | undefined {
    if (this.marked.length === 0 || this.inFlight.size >= this.config.concurrency) return undefined;
    const next = this.marked.shift()!;
    this.inFlight.set(next.row.id, { token: next.token, started: false, lease: next.lease });
    return next;
  }

  /**
   * Lease arithmetic. A send may take up to sendTimeoutMs and its lease must still hold when it
   * ends, so that its 'sent' mark lands under it; the slack is what the lease has beyond that
   * (leaseMs − sendTimeoutMs, at least sendTimeoutMs: config requires the lease to be twice the
   * send timeout). A send starts only with sendTimeoutMs + half the slack left; rows waiting for a
   * slot are renewed once less than sendTimeoutMs + three quarters is left, and the loop looks at
   * them at least every eighth of the slack.
   */
  leaseThresholds(): { startNeedsMs: number; renewBelowMs: number; renewEveryMs: number } {
    const { leaseMs, sendTimeoutMs } = this.config;
    const slackMs = Math.max(0, leaseMs - sendTimeoutMs);
    return { startNeedsMs: sendTimeoutMs + slackMs / 2, renewBelowMs: sendTimeoutMs + (slackMs * 3) / 4, renewEveryMs: Math.max(50, slackMs / 8) };
  }

  /** Rows marked 'sending' that have not started: a live worker keeps them however long its slots are busy. */
  waitingLeases(): Array<{ id: string; token: string; lease: HeldLease }> {
    const waiting = this.marked.map((m) => ({ id: m.row.id, token: m.token, lease: m.lease }));
    for (const [id, e] of this.inFlight) if (!e.started) waiting.push({ id, token: e.token, lease: e.lease });
    return waiting;
  }

  /** Empties the queue of rows not in a slot (marked first, then prefetched), for their return at shutdown. */
  takeAllWaiting(): Array<{ row: ClaimedMessage; token: string }> {
    return [...this.marked.splice(0), ...this.prefetched.splice(0)];
  }

  /** Ids in slots whose sends never started, by claim token: they go back at shutdown. */
  unstartedByToken(): Map<string, string[]> {
    const byToken = new Map<string, string[]>();
    for (const [id, { token, started }] of this.inFlight) {
      if (!started) byToken.set(token, [...(byToken.get(token) ?? []), id]);
    }
    return byToken;
  }
}

/** 0 for transactional, 1 for followup, 2 for marketing. */
function classRank(row: ClaimedMessage): number {
  return MESSAGE_CLASSES.indexOf(row.class);
}
