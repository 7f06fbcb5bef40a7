import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Personalizer } from '../ai/personalizer';
import type { Channel, ChannelName } from '../channels/channel';
import { PermanentDeliveryError, RateLimitedError } from '../channels/errors';
import type { DeliveryConfig } from '../config/config';
import type { Database } from '../db/database';
import type { DatabaseClock } from '../db/database-clock';
import type { Logger } from '../logging/logger';
import { monotonicMs, startDeadline, withDeadline } from '../util/deadline';
import { claimDueMessages, markSending, nextWakeInMs, releaseClaims, renewSendingLeases, type ClaimedMessage } from './outbox/claim';
import { recordAttemptFailure } from './outbox/fail';
import { expireLeases, reconcileUnknownByResend } from './outbox/recovery';
import { sendWakeUp, WAKEUP_CHANNEL } from './outbox/wakeup';
import { recordHeartbeat } from './worker-health';
import { DatabaseBackoff } from './database-backoff';
import type { DeliveryMetrics } from './delivery-metrics';
import { strategyLabeler } from './metric-labels';
import type { ChannelRateLimits } from './rate-limits';
import { maxAttemptsFor, retryDelayMs } from './retry-policy';
import { SentWriter } from './sent-writer';
import { TemplateRenderError, type TemplateEngine } from './templates';

export interface DispatcherDeps {
  db: Database;
  channels: ReadonlyMap<ChannelName, Channel>;
  /** Channels whose receivers deduplicate by idempotency key: unknown outcomes are resent there. */
  idempotentChannels: readonly ChannelName[];
  rateLimits: ChannelRateLimits;
  personalizer: Personalizer;
  metrics: DeliveryMetrics;
  logger: Logger;
  config: DeliveryConfig;
  instanceId: string;
  /** The sandboxed template engine: a render over a limit fails its message, never the process. */
  templates: TemplateEngine;
  /** The database's clock, for sent_at and the lag; sampled on every heartbeat. */
  clock: DatabaseClock;
}

const HEARTBEAT_EVERY_MS = 5_000;
const LEASE_SWEEP_EVERY_MS = 1_000;
const LISTEN_DEADLINE_MS = 10_000;

/**
 * Sends due messages at their time. It sleeps until the earliest due row (asked of the database,
 * on its clock) and is woken early by NOTIFY when something earlier is scheduled, so there is no
 * fixed poll. Rows are claimed with SKIP LOCKED under a lease, a batch at a time ahead of the free
 * send slots (one claim statement per batch, not per send), into a local queue as 'claimed'; each
 * group of rows about to start is marked 'sending' in one statement by id and token, at most
 * `concurrency` in flight. A row cancelled while in the local queue is not marked, so not sent.
 * Database errors back off exponentially and the loop resumes by itself; nothing here crashes
 * the process.
 */
export class Dispatcher {
  private readonly log: Logger;
  private readonly sentWriter: SentWriter;
  private readonly inFlight = new Map<string, { token: string; started: boolean; lease: HeldLease }>();
  /** Claimed rows not yet marked 'sending', oldest first; heldSince is monotonicMs(). */
  private readonly prefetched: Array<{ row: ClaimedMessage; token: string; heldSince: number }> = [];
  /** Rows marked 'sending' whose sends have not started yet (see nextMarkGroup), oldest first. */
  private readonly marked: Array<{ row: ClaimedMessage; token: string; lease: HeldLease }> = [];
  private launching: Promise<void> | undefined;
  private launchAgain = false;
  /** Moving average of how long one send holds its slot, to keep the local queue sendable within the lease. */
  private avgSendMs = 0;
  private readonly abortSends = new AbortController();
  /** Aborted when stop() begins: ends a backoff, which wake-ups do not. */
  private readonly stopSignal = new AbortController();
  private readonly backoff: DatabaseBackoff;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private woken = false;
  private unlisten: (() => Promise<void>) | undefined;
  private lastHeartbeatAt = 0;
  /** Self-addressed NOTIFY that proves the LISTEN connection still delivers (sent, seen). */
  private pingSentAt: number | undefined;
  private pingPayload = '';
  private lastLeaseSweepAt = 0;
  private claimSeq = 0;
  private readonly tokenPrefix: string;
  /** The closed set of `strategy` label values (metric-labels.ts): never a caller's free text. */
  private readonly strategyOf: (row: ClaimedMessage) => string;
  /** Last successful tick (for logs and tests); the shared record is delivery_heartbeats. */
  lastTickAt: Date | undefined;

  constructor(private readonly deps: DispatcherDeps) {
    this.log = deps.logger.child({ component: 'delivery-dispatcher' });
    this.sentWriter = new SentWriter(deps.db, this.log, deps.metrics);
    this.backoff = new DatabaseBackoff({ db: deps.db, metrics: deps.metrics, log: this.log, stop: this.stopSignal.signal });
    this.tokenPrefix = `${deps.instanceId}:${randomBytes(3).toString('hex')}`;
    this.strategyOf = strategyLabeler(deps.config.followup.scheduleSeconds);
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /**
   * Stops claiming and starting sends, returns the local queue at once, lets sends in flight
   * finish for up to timeoutMs, then aborts them.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    this.wakeUp();
    await this.loop;
    await this.launching?.catch(() => undefined);
    await this.releasePrefetched([...this.marked.splice(0), ...this.prefetched.splice(0)]).catch(() => undefined);
    const deadline = monotonicMs() + timeoutMs;
    while (this.inFlight.size > 0 && monotonicMs() < deadline) await delay(20);
    // Rows whose send never started go back at once; started ones keep their lease (outcome unknown).
    const unstartedByToken = new Map<string, string[]>();
    for (const [id, { token, started }] of this.inFlight) {
      if (!started) unstartedByToken.set(token, [...(unstartedByToken.get(token) ?? []), id]);
    }
    for (const [token, ids] of unstartedByToken) await releaseClaims(this.deps.db, { ids, token }).catch(() => undefined);
    this.abortSends.abort(new Error('dispatcher stopping'));
    await this.sentWriter.drain(1_000);
    this.sentWriter.close();
    await this.unlisten?.().catch(() => undefined);
  }

  /** Wakes the loop to look for due work now (NOTIFY, a freed slot, a test). */
  wakeUp(): void {
    this.woken = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.ensureListening();
        const claimedFull = await this.tick();
        this.backoff.succeeded();
        if (claimedFull || this.stopping) continue;
        await this.sleep(await this.millisUntilNextWork());
      } catch (err) {
        // The LISTEN connection may have died with the database: listen again after recovery.
        const stale = this.unlisten;
        this.unlisten = undefined;
        void stale?.().catch(() => undefined);
        await this.backoff.failed(err as Error);
      }
    }
  }

  /**
   * How many claimed rows to hold: at most batchSize, and no more than the send slots get through
   * in a quarter of the lease at the recent send speed (a row held until its lease ran out would
   * be taken back and claimed again by someone). Refill when the queue is down to lowWater.
   */
  private queueTarget(): { target: number; lowWater: number } {
    const { batchSize, concurrency, leaseMs } = this.deps.config;
    const sendable = this.avgSendMs > 0 ? Math.floor((concurrency * leaseMs) / 4 / this.avgSendMs) : batchSize;
    const target = Math.max(1, Math.min(batchSize, Math.max(concurrency, sendable)));
    const lowWater = Math.max(1, Math.min(target, Math.max(concurrency, Math.ceil(target / 2))));
    return { target, lowWater };
  }

  /** One pass: heartbeat, lease sweep, claim into the local queue and launch. True when there is more to claim now. */
  private async tick(): Promise<boolean> {
    const { db, config } = this.deps;
    // Intervals on the monotonic clock: a wall-clock step back would otherwise stop the
    // heartbeat, the listener check and the lease sweep for the size of the step.
    const now = monotonicMs();
    if (now - this.lastHeartbeatAt >= HEARTBEAT_EVERY_MS) {
      await this.checkListener(now);
      await recordHeartbeat(db, this.deps.instanceId);
      await this.deps.clock.sample();
      this.lastHeartbeatAt = now;
    }
    if (now - this.lastLeaseSweepAt >= LEASE_SWEEP_EVERY_MS) {
      await this.sweepLeases();
      this.lastLeaseSweepAt = now;
    }
    this.lastTickAt = new Date();
    await this.renewWaitingLeases();

    // Rows held past half the lease (slots busy longer than the queue was sized for) go back
    // before the lease sweep would take them from under us; their checks are old by now too.
    const heldTooLong = monotonicMs() - config.leaseMs / 2;
    if (this.prefetched.length > 0 && this.prefetched[0]!.heldSince < heldTooLong) {
      const stale = this.prefetched.filter((g) => g.heldSince < heldTooLong);
      this.prefetched.splice(0, stale.length);
      await this.releasePrefetched(stale);
      this.log.info('claimed messages held past half their lease returned to scheduled', { count: stale.length });
    }
    // Claim ahead of the free slots: one claim (the costly statement, with the send-time checks)
    // for a batch, while the slots drain the local queue.
    const { target, lowWater } = this.queueTarget();
    if (this.prefetched.length >= lowWater) {
      await this.launch();
      return false;
    }
    const limit = target - this.prefetched.length;
    const token = `${this.tokenPrefix}:${++this.claimSeq}`;
    const claimed = await claimDueMessages(db, {
      token,
      limit,
      leaseMs: config.leaseMs,
      excludeChannels: this.deps.rateLimits.pausedChannels(),
      staleAfterSeconds: config.staleAfterSeconds,
    });
    for (const row of claimed) {
      if (row.skip_reason) {
        this.deps.metrics.sends.inc({ channel: row.channel, strategy: this.strategyOf(row), result: 'skipped' });
        this.log.info('message skipped at send time', { messageId: row.id, reason: row.skip_reason });
        continue;
      }
      this.prefetched.push({ row, token, heldSince: monotonicMs() });
    }
    await this.launch();
    return claimed.length === limit && this.prefetched.length < lowWater;
  }

  /**
   * Fills free send slots from the local queue: marks rows 'sending' and starts them. One run at a
   * time (rerun when asked meanwhile); starting a row already marked never waits for it.
   */
  private launch(): Promise<void> {
    if (this.launching) {
      this.launchAgain = true;
      return this.launching;
    }
    this.launching = this.launchFromQueue().finally(() => {
      this.launching = undefined;
    });
    return this.launching;
  }

  private async launchFromQueue(): Promise<void> {
    const { config, db, rateLimits } = this.deps;
    do {
      this.launchAgain = false;
      for (;;) {
        this.startMarked();
        if (this.stopping) break;
        const group = this.nextMarkGroup();
        if (group.length === 0) break;
        // Held too long (its send-time checks are old and its lease near its end) or its channel
        // paused meanwhile: back to 'scheduled' instead of started.
        const paused = new Set(rateLimits.pausedChannels());
        const heldTooLong = monotonicMs() - config.leaseMs / 2;
        const giveBack = group.filter((g) => g.heldSince < heldTooLong || paused.has(g.row.channel));
        const marking = group.filter((g) => !giveBack.includes(g));
        if (giveBack.length > 0) await this.releasePrefetched(giveBack);
        if (marking.length === 0) continue;
        let marked: Array<{ id: string; attempts: number }>;
        // Taken before the statement, so this process never counts on more lease than the database gave.
        const markedAt = monotonicMs();
        try {
          marked = await markSending(db, { rows: marking.map((g) => ({ id: g.row.id, token: g.token })), leaseMs: config.leaseMs });
        } catch (err) {
          // Not known whether the mark applied: keep the rows; the mark is repeatable for this token.
          this.prefetched.unshift(...marking);
          throw err;
        }
        const attemptsById = new Map(marked.map((m) => [m.id, m.attempts]));
        for (const g of marking) {
          const attempts = attemptsById.get(g.row.id);
          if (attempts === undefined) {
            this.log.info('claimed message not sent: cancelled, rescheduled or taken back before its send started', {
              messageId: g.row.id,
            });
            continue;
          }
          this.marked.push({ row: { ...g.row, attempts }, token: g.token, lease: { until: markedAt + config.leaseMs } });
        }
        if (this.stopping) {
          // Shutdown began during the mark: nothing starts now; marked rows go back in stop().
          break;
        }
      }
    } while (this.launchAgain && !this.stopping);
  }

  /**
   * The next rows to mark 'sending', oldest first: one per free slot, plus up to markAhead
   * (DELIVERY_MARK_AHEAD) marked before a slot is free, so a slot that frees starts its next send
   * at once instead of waiting for a statement (at 5 sends in flight that wait was most of the
   * time a message spent in its slot). Only rows of channels whose unknown outcomes are resent
   * under the same key are marked ahead: if this process dies, a row marked but not started
   * becomes 'unknown' like a row in flight, which costs those channels a repeat the receiver
   * drops, and would cost the others an operator's look. The refill waits until half the
   * marked-ahead rows are used, so one mark covers several rows.
   */
  private nextMarkGroup(): Array<{ row: ClaimedMessage; token: string; heldSince: number }> {
    const { concurrency, markAhead } = this.deps.config;
    const free = Math.max(0, concurrency - this.inFlight.size - this.marked.length);
    const ahead = this.marked.length > markAhead / 2 ? 0 : markAhead - this.marked.length;
    let take = 0;
    while (take < this.prefetched.length) {
      const canMarkAhead = this.deps.idempotentChannels.includes(this.prefetched[take]!.row.channel);
      if (take < free || (canMarkAhead && take < free + ahead)) take++;
      else break;
    }
    return this.prefetched.splice(0, take);
  }

  /** Starts marked rows in free slots, in order; synchronous, so a freed slot refills at once. */
  private startMarked(): void {
    while (!this.stopping && this.marked.length > 0 && this.inFlight.size < this.deps.config.concurrency) {
      const { row, token, lease } = this.marked.shift()!;
      this.inFlight.set(row.id, { token, started: false, lease });
      void this.deliver(row, token).finally(() => {
        this.inFlight.delete(row.id);
        this.startMarked();
        void this.launch().catch(() => this.wakeUp());
        this.wakeUp();
      });
    }
  }

  /** Returns rows from the local queue to 'scheduled' (one statement per claim token). */
  private async releasePrefetched(rows: ReadonlyArray<{ row: ClaimedMessage; token: string }>): Promise<void> {
    const byToken = new Map<string, string[]>();
    for (const { row, token } of rows) byToken.set(token, [...(byToken.get(token) ?? []), row.id]);
    for (const [token, ids] of byToken) await releaseClaims(this.deps.db, { ids, token });
  }

  private async sweepLeases(): Promise<void> {
    const { db, metrics, idempotentChannels } = this.deps;
    const { unknown: expired, returned } = await expireLeases(db);
    if (returned > 0) this.log.info('claimed messages returned to scheduled: their claimer died before starting them', { returned });
    for (const row of expired) {
      const action = idempotentChannels.includes(row.channel) ? 'resent' : 'operator';
      metrics.reconciled.inc({ channel: row.channel, action });
      this.log.warn('message outcome unknown: its sender died after claiming it', { messageId: row.id, channel: row.channel, action });
    }
    await reconcileUnknownByResend(db, idempotentChannels);
  }

  /**
   * Lease arithmetic. A send may take up to sendTimeoutMs and its lease must
   * still hold when it ends, so that its 'sent' mark lands under it; the slack is what the lease
   * has beyond that (leaseMs − sendTimeoutMs, at least sendTimeoutMs: config requires the lease
   * to be twice the send timeout). A send starts only with sendTimeoutMs + half the slack left;
   * rows waiting for a slot are renewed once less than sendTimeoutMs + three quarters is left,
   * and the loop looks at them at least every eighth of the slack.
   */
  private leaseThresholds(): { startNeedsMs: number; renewBelowMs: number; renewEveryMs: number } {
    const { leaseMs, sendTimeoutMs } = this.deps.config;
    const slackMs = Math.max(0, leaseMs - sendTimeoutMs);
    return { startNeedsMs: sendTimeoutMs + slackMs / 2, renewBelowMs: sendTimeoutMs + (slackMs * 3) / 4, renewEveryMs: Math.max(50, slackMs / 8) };
  }

  /** Rows marked 'sending' that have not started: a live worker keeps them however long its slots are busy. */
  private waitingLeases(): Array<{ id: string; token: string; lease: HeldLease }> {
    const waiting = this.marked.map((m) => ({ id: m.row.id, token: m.token, lease: m.lease }));
    for (const [id, e] of this.inFlight) if (!e.started) waiting.push({ id, token: e.token, lease: e.lease });
    return waiting;
  }

  /**
   * Renews the leases of waiting rows before they run out: with every slot held by a slow
   * receiver, rows marked ahead waited longer than the lease, another worker's sweep took them
   * and resent them while this one still sent them. A row that is not renewed
   * was taken back already; its send-start check gives it up.
   */
  private async renewWaitingLeases(): Promise<void> {
    const { renewBelowMs } = this.leaseThresholds();
    const now = monotonicMs();
    const due = this.waitingLeases().filter((w) => w.lease.until - now < renewBelowMs);
    if (due.length === 0) return;
    const renewedAt = monotonicMs();
    const renewed = new Set(await renewSendingLeases(this.deps.db, { rows: due, leaseMs: this.deps.config.leaseMs }));
    for (const w of due) if (renewed.has(w.id)) w.lease.until = renewedAt + this.deps.config.leaseMs;
  }

  /**
   * True when this worker still holds the row's lease, by its monotonic clock, for the whole
   * send. A lease too short is renewed first. A row that cannot be renewed (a lease sweep took
   * it, and another worker may be sending it now) is not sent, and goes back if it is still ours.
   */
  private async leaseCoversSend(row: ClaimedMessage, token: string): Promise<boolean> {
    const { db, config } = this.deps;
    const entry = this.inFlight.get(row.id);
    if (!entry) return false;
    const { startNeedsMs } = this.leaseThresholds();
    if (entry.lease.until - monotonicMs() >= startNeedsMs) return true;
    const renewedAt = monotonicMs();
    let renewed = false;
    try {
      renewed = (await renewSendingLeases(db, { rows: [{ id: row.id, token }], leaseMs: config.leaseMs })).length > 0;
    } catch (err) {
      this.log.warn('could not renew a lease before its send', { messageId: row.id, error: (err as Error).message });
    }
    if (renewed) {
      entry.lease.until = renewedAt + config.leaseMs;
      if (entry.lease.until - monotonicMs() >= startNeedsMs) return true;
    }
    this.log.warn('message not sent by this worker: its lease would not cover the send', { messageId: row.id, renewed });
    await this.persist(() => releaseClaims(db, { ids: [row.id], token }));
    return false;
  }

  private async deliver(row: ClaimedMessage, token: string): Promise<void> {
    const { config, metrics, rateLimits } = this.deps;
    const labels = { channel: row.channel, strategy: this.strategyOf(row) };
    let sendDeadline: ReturnType<typeof startDeadline> | undefined;
    try {
      const channel = this.deps.channels.get(row.channel);
      // A destination paused by its own 429 waits without taking from the channel's budget.
      const destination = channel?.destinationOf?.(row.recipient);
      const destinationWaitMs = rateLimits.destinationWaitMs(destination);
      const waitMs = destinationWaitMs > 0 ? destinationWaitMs : await rateLimits.acquire(row.channel);
      if (waitMs > 0) {
        metrics.sends.inc({ ...labels, result: 'rate_limited' });
        const error = destinationWaitMs > 0
          ? `receiver ${destination} asked to wait: waiting ${waitMs} ms`
          : `rate limit of channel ${row.channel}: waiting ${waitMs} ms`;
        await this.persist(() =>
          recordAttemptFailure(this.deps.db, { id: row.id, token, status: 'scheduled', error, retryInMs: waitMs, refundAttempt: true }),
        );
        return;
      }
      if (!channel) throw new PermanentDeliveryError(`channel ${row.channel} is not configured in this worker`);
      const { subject, body } = await this.compose(row);
      if (!(await this.leaseCoversSend(row, token))) return;
      if (this.stopping) {
        // Shutdown began before this send started: nothing is sent after that; the row goes back.
        await this.persist(() => releaseClaims(this.deps.db, { ids: [row.id], token }));
        return;
      }
      const entry = this.inFlight.get(row.id);
      if (entry) entry.started = true;
      const sendStartedAt = monotonicMs();
      const deadline = startDeadline(config.sendTimeoutMs, `send of message ${row.id}`, this.abortSends.signal);
      sendDeadline = deadline;
      const signal = deadline.signal;
      const result = await channel.send(
        {
          id: row.id,
          tenantId: row.tenant_id,
          channel: row.channel,
          recipient: row.recipient,
          subject,
          body,
          type: row.type,
          metadata: {
            contact_id: row.contact_id,
            lead_id: row.lead_id,
            recipient: row.recipient,
            scheduled_at: new Date(row.scheduled_at).toISOString(),
            attempt: row.attempts,
          },
        },
        { idempotencyKey: row.idempotency_key, signal },
      ).finally(() => deadline.clear());
      // On the database's clock, like scheduled_at: a skewed or stepped host still stores the truth.
      const sentAt = new Date(this.deps.clock.nowMs());
      const tookMs = monotonicMs() - sendStartedAt;
      this.avgSendMs = this.avgSendMs === 0 ? tookMs : this.avgSendMs * 0.9 + tookMs * 0.1;
      metrics.lag.observe({ channel: row.channel }, Math.max(0, (sentAt.getTime() - new Date(row.scheduled_at).getTime()) / 1000));
      metrics.sends.inc({ ...labels, result: 'sent' });
      // The slot frees now; the "sent" mark is batched with others finishing at the same time. If
      // the process dies before it is written, the row's lease expires and it becomes 'unknown'.
      void this.sentWriter.write({
        id: row.id, token, sentAt, sentBy: this.deps.instanceId, providerMessageId: result.providerMessageId ?? null,
      }, row.recurrence_interval_seconds !== null);
    } catch (err) {
      // A send cut off by its deadline may have reached the provider all the same.
      const timedOut = sendDeadline?.signal.aborted === true && (sendDeadline.signal.reason as Error | undefined)?.name === 'TimeoutError';
      await this.recordFailure(row, token, err as Error, labels, timedOut);
    }
  }

  /**
   * Renders subject and body. A template that cannot render fails this message permanently (the
   * row records why; retrying the same text and variables cannot succeed), counted by reason. A
   * render is synchronous and may use up its whole render limit: it starts from a fresh
   * macrotask, so sends finishing together do not chain their renders into one long block of the
   * event loop and /health/live is answered between them.
   */
  private async compose(row: ClaimedMessage): Promise<{ subject: string | undefined; body: string }> {
    const { templates, metrics } = this.deps;
    let text: string;
    let subject: string | undefined;
    await yieldToEventLoop();
    try {
      subject = row.subject ? templates.render(row.subject, row.variables ?? {}) : undefined;
      text = templates.render(row.template, row.variables ?? {});
    } catch (err) {
      metrics.templateFailures.inc({ reason: err instanceof TemplateRenderError ? err.problem.reason : 'error' });
      throw new PermanentDeliveryError(`template not rendered: ${(err as Error).message}`);
    }
    if (!row.personalize) return { subject, body: text };
    // Fail-open: the personalizer never throws and returns the template on any failure (counted there).
    const result = await this.deps.personalizer.personalize({
      text,
      tone: row.tone ?? undefined,
      contextHints: row.context_hints ?? undefined,
      signal: this.abortSends.signal,
    });
    return { subject, body: result.text };
  }

  private async recordFailure(
    row: ClaimedMessage,
    token: string,
    err: Error,
    labels: { channel: string; strategy: string },
    timedOut = false,
  ): Promise<void> {
    // Made here, not per send: only a failure logs about its message.
    const log = this.log.child({ messageId: row.id, channel: row.channel });
    const { config, metrics, rateLimits, db, idempotentChannels } = this.deps;
    if (timedOut && !idempotentChannels.includes(row.channel)) {
      // The SMTP server or Twilio may have taken the message before the deadline cut the send off.
      // Without a receiver that deduplicates, a retry could deliver it twice: the outcome is
      // unknown and an operator decides, as after a crash mid-send. Webhooks retry under their key.
      metrics.sends.inc({ ...labels, result: 'unknown' });
      log.warn('send timed out: outcome unknown, left for an operator', { error: err.message });
      await this.persist(() => recordAttemptFailure(db, { id: row.id, token, status: 'unknown', error: `outcome unknown: ${err.message}` }));
      return;
    }
    if (err instanceof RateLimitedError) {
      if (err.destination !== undefined) rateLimits.destinationAskedToWait(err.destination, err.retryAfterMs);
      else await rateLimits.providerAskedToWait(row.channel, err.retryAfterMs);
      metrics.sends.inc({ ...labels, result: 'rate_limited' });
      log.warn(err.destination !== undefined ? 'receiver asked to slow down: destination paused' : 'provider asked to slow down: channel paused', {
        retryAfterMs: err.retryAfterMs,
        destination: err.destination,
      });
      await this.persist(() =>
        recordAttemptFailure(db, { id: row.id, token, status: 'scheduled', error: err.message, retryInMs: err.retryAfterMs, refundAttempt: true }),
      );
      return;
    }
    if (err instanceof PermanentDeliveryError) {
      metrics.sends.inc({ ...labels, result: 'failed' });
      log.warn('message failed permanently', { error: err.message });
      await this.persist(() => recordAttemptFailure(db, { id: row.id, token, status: 'failed', error: err.message }));
      return;
    }
    const maxAttempts = maxAttemptsFor(config.retry, row.type);
    if (row.attempts >= maxAttempts) {
      metrics.sends.inc({ ...labels, result: 'dead' });
      log.warn('message dead after its last attempt', { attempts: row.attempts, error: err.message });
      await this.persist(() => recordAttemptFailure(db, { id: row.id, token, status: 'dead', error: err.message }));
      return;
    }
    const retryInMs = retryDelayMs(config.retry, row.type, row.attempts);
    metrics.sends.inc({ ...labels, result: 'retry' });
    log.info('send failed; retrying later', { attempts: row.attempts, retryInMs, error: err.message });
    await this.persist(() => recordAttemptFailure(db, { id: row.id, token, status: 'scheduled', error: err.message, retryInMs }));
  }

  /** Retries a post-send write through short database blips; if it still fails the lease expiry takes over. */
  private async persist(write: () => Promise<unknown>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await write();
        return;
      } catch (err) {
        if (attempt >= 5 || this.abortSends.signal.aborted) {
          this.log.error('could not record a delivery outcome; the row will expire to unknown', { error: (err as Error).message });
          return;
        }
        await delay(100 * 2 ** attempt);
      }
    }
  }

  private async millisUntilNextWork(): Promise<number> {
    const { config, rateLimits, db } = this.deps;
    // Rows waiting for a slot need their leases renewed in time, even if no send finishes meanwhile.
    const longest = this.waitingLeases().length > 0 ? Math.min(config.maxSleepMs, this.leaseThresholds().renewEveryMs) : config.maxSleepMs;
    // A finishing send wakes us; while the local queue is full enough there is nothing to claim.
    if (this.prefetched.length >= this.queueTarget().lowWater) return longest;
    const paused = rateLimits.pausedChannels();
    const candidates = [longest];
    const dueIn = await nextWakeInMs(db, paused);
    if (dueIn !== undefined) candidates.push(dueIn);
    const resumeAt = rateLimits.nextResumeAt();
    if (resumeAt !== undefined) candidates.push(Math.max(0, resumeAt - monotonicMs()));
    return Math.max(0, Math.min(...candidates));
  }

  private async sleep(ms: number): Promise<void> {
    if (this.woken || ms <= 0) {
      this.woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = undefined;
    this.woken = false;
  }

  private async ensureListening(): Promise<void> {
    if (this.unlisten) return;
    this.pingSentAt = undefined;
    const pending = this.deps.db.listen(WAKEUP_CHANNEL, (payload) => {
      if (payload === this.pingPayload) this.pingSentAt = undefined;
      else if (!payload.startsWith('ping:')) this.wakeUp();
    });
    try {
      this.unlisten = await withDeadline(pending, LISTEN_DEADLINE_MS, 'LISTEN for delivery wake-ups');
    } catch (err) {
      // A LISTEN that completes after its deadline must not linger as a second listener.
      void pending.then((stop) => stop().catch(() => undefined), () => undefined);
      throw err;
    }
  }

  /**
   * A LISTEN connection can die quietly (server restart, network cut) and then no wake-up would
   * ever come. Every heartbeat sends this dispatcher a NOTIFY of its own; if the previous one
   * never arrived, listen again on a fresh connection (and look for work, in case a wake-up was lost).
   */
  private async checkListener(now: number): Promise<void> {
    if (this.pingSentAt !== undefined && now - this.pingSentAt >= HEARTBEAT_EVERY_MS / 2) {
      this.log.warn('wake-up listener stopped delivering; listening again');
      const stale = this.unlisten;
      this.unlisten = undefined;
      void stale?.().catch(() => undefined);
      await this.ensureListening();
      this.wakeUp();
    }
    this.pingPayload = `ping:${this.tokenPrefix}:${now}`;
    this.pingSentAt = now;
    await sendWakeUp(this.deps.db, this.pingPayload);
  }
}

/** Until when (monotonicMs) this process may count on a row's lease; shared by its queue entry and its slot. */
interface HeldLease {
  until: number;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
