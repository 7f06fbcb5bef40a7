import { randomBytes } from 'node:crypto';
import type { Personalizer } from '../ai/personalizer';
import type { Channel, ChannelName } from '../channels/channel';
import { PermanentDeliveryError, RateLimitedError } from '../channels/errors';
import type { DeliveryConfig } from '../config/config';
import type { Database } from '../db/database';
import type { Logger } from '../logging/logger';
import { withDeadline } from '../util/deadline';
import {
  claimDueMessages,
  expireLeases,
  nextWakeInMs,
  reconcileUnknownByResend,
  recordAttemptFailure,
  recordHeartbeat,
  releaseClaims,
  skipIfNoLongerWanted,
  type ClaimedMessage,
} from './claims';
import type { DeliveryMetrics } from './delivery-metrics';
import { WAKEUP_CHANNEL } from './outbox';
import type { ChannelRateLimits } from './rate-limits';
import { maxAttemptsFor, retryDelayMs } from './retry-policy';
import { SentWriter } from './sent-writer';
import { renderTemplate } from './templates';

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
}

const HEARTBEAT_EVERY_MS = 5_000;
const LEASE_SWEEP_EVERY_MS = 1_000;
const MAX_ERROR_BACKOFF_MS = 30_000;
const LISTEN_DEADLINE_MS = 10_000;

/**
 * Sends due messages at their time. It sleeps until the earliest due row (asked of the database,
 * on its clock) and is woken early by NOTIFY when something earlier is scheduled, so there is no
 * fixed poll. Rows are claimed with SKIP LOCKED under a lease, at most `concurrency` in flight.
 * Database errors back off exponentially and the loop resumes by itself; nothing here crashes
 * the process.
 */
export class Dispatcher {
  private readonly log: Logger;
  private readonly sentWriter: SentWriter;
  private readonly inFlight = new Map<string, { token: string; started: boolean }>();
  private readonly abortSends = new AbortController();
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
  private consecutiveErrors = 0;
  private claimSeq = 0;
  private readonly tokenPrefix: string;
  /** Last successful tick (for logs and tests); the shared record is delivery_heartbeats. */
  lastTickAt: Date | undefined;

  constructor(private readonly deps: DispatcherDeps) {
    this.log = deps.logger.child({ component: 'delivery-dispatcher' });
    this.sentWriter = new SentWriter(deps.db, this.log);
    this.tokenPrefix = `${deps.instanceId}:${randomBytes(3).toString('hex')}`;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Stops claiming, lets sends in flight finish for up to timeoutMs, then aborts them. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.wakeUp();
    await this.loop;
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) await delay(20);
    // Rows whose send never started go back at once; started ones keep their lease (outcome unknown).
    const unstarted = [...this.inFlight.entries()].filter(([, s]) => !s.started);
    for (const [id, { token }] of unstarted) await releaseClaims(this.deps.db, { ids: [id], token }).catch(() => undefined);
    this.abortSends.abort(new Error('dispatcher stopping'));
    await this.sentWriter.drain(2_000);
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
        this.consecutiveErrors = 0;
        if (claimedFull || this.stopping) continue;
        await this.sleep(await this.millisUntilNextWork());
      } catch (err) {
        this.consecutiveErrors++;
        this.deps.metrics.databaseErrors.inc();
        const backoffMs = Math.min(MAX_ERROR_BACKOFF_MS, 250 * 2 ** Math.min(this.consecutiveErrors - 1, 10));
        if (this.consecutiveErrors <= 3 || this.consecutiveErrors % 10 === 0) {
          this.log.warn('dispatcher tick failed; backing off', {
            error: (err as Error).message,
            consecutiveErrors: this.consecutiveErrors,
            backoffMs,
          });
        }
        // The LISTEN connection may have died with the database: listen again after recovery.
        const stale = this.unlisten;
        this.unlisten = undefined;
        void stale?.().catch(() => undefined);
        await this.sleep(backoffMs);
      }
    }
  }

  /** One pass: heartbeat, lease sweep, claim and launch. True when it claimed a full batch. */
  private async tick(): Promise<boolean> {
    const { db, config } = this.deps;
    const now = Date.now();
    if (now - this.lastHeartbeatAt >= HEARTBEAT_EVERY_MS) {
      await this.checkListener(now);
      await recordHeartbeat(db, this.deps.instanceId);
      this.lastHeartbeatAt = now;
    }
    if (now - this.lastLeaseSweepAt >= LEASE_SWEEP_EVERY_MS) {
      await this.sweepLeases();
      this.lastLeaseSweepAt = now;
    }
    this.lastTickAt = new Date();

    const free = config.concurrency - this.inFlight.size;
    if (free <= 0) return false;
    const limit = Math.min(free, config.batchSize);
    const token = `${this.tokenPrefix}:${++this.claimSeq}`;
    const claimed = await claimDueMessages(db, {
      token,
      limit,
      leaseMs: config.leaseMs,
      excludeChannels: this.deps.rateLimits.pausedChannels(),
    });
    if (claimed.length === 0) return false;
    for (const row of claimed) this.inFlight.set(row.id, { token, started: false });
    let skipped: Map<string, string>;
    try {
      skipped = await skipIfNoLongerWanted(db, { ids: claimed.map((r) => r.id), token, staleAfterSeconds: config.staleAfterSeconds });
    } catch (err) {
      // Nothing was sent: give the rows back rather than leave them to expire as unknown.
      await releaseClaims(db, { ids: claimed.map((r) => r.id), token }).catch(() => undefined);
      for (const row of claimed) this.inFlight.delete(row.id);
      throw err;
    }
    for (const row of claimed) {
      const reason = skipped.get(row.id);
      if (reason) {
        this.inFlight.delete(row.id);
        this.deps.metrics.sends.inc({ channel: row.channel, strategy: strategyOf(row), result: 'skipped' });
        this.log.info('message skipped at send time', { messageId: row.id, reason });
        continue;
      }
      void this.deliver(row, token).finally(() => {
        this.inFlight.delete(row.id);
        this.wakeUp();
      });
    }
    return claimed.length === limit;
  }

  private async sweepLeases(): Promise<void> {
    const { db, metrics, idempotentChannels } = this.deps;
    const expired = await expireLeases(db);
    for (const row of expired) {
      const action = idempotentChannels.includes(row.channel) ? 'resent' : 'operator';
      metrics.reconciled.inc({ channel: row.channel, action });
      this.log.warn('message outcome unknown: its sender died after claiming it', { messageId: row.id, channel: row.channel, action });
    }
    await reconcileUnknownByResend(db, idempotentChannels);
  }

  private async deliver(row: ClaimedMessage, token: string): Promise<void> {
    const { config, metrics, rateLimits } = this.deps;
    const labels = { channel: row.channel, strategy: strategyOf(row) };
    const log = this.log.child({ messageId: row.id, channel: row.channel });
    try {
      const waitMs = await rateLimits.acquire(row.channel);
      if (waitMs > 0) {
        metrics.sends.inc({ ...labels, result: 'rate_limited' });
        await this.persist(() =>
          recordAttemptFailure(this.deps.db, {
            id: row.id, token, status: 'scheduled', error: `rate limit of channel ${row.channel}: waiting ${waitMs} ms`,
            retryInMs: waitMs, refundAttempt: true,
          }),
        );
        return;
      }
      const channel = this.deps.channels.get(row.channel);
      if (!channel) throw new PermanentDeliveryError(`channel ${row.channel} is not configured in this worker`);
      const body = await this.compose(row);
      const entry = this.inFlight.get(row.id);
      if (entry) entry.started = true;
      const signal = AbortSignal.any([AbortSignal.timeout(config.sendTimeoutMs), this.abortSends.signal]);
      const result = await channel.send(
        {
          id: row.id,
          tenantId: row.tenant_id,
          channel: row.channel,
          recipient: row.recipient,
          subject: row.subject ? renderTemplate(row.subject, row.variables ?? {}) : undefined,
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
      );
      const sentAt = new Date();
      metrics.lag.observe({ channel: row.channel }, Math.max(0, (sentAt.getTime() - new Date(row.scheduled_at).getTime()) / 1000));
      metrics.sends.inc({ ...labels, result: 'sent' });
      await this.sentWriter.write({
        id: row.id, token, sentAt, sentBy: this.deps.instanceId, providerMessageId: result.providerMessageId ?? null,
      }, row.recurrence_interval_seconds !== null);
    } catch (err) {
      await this.recordFailure(row, token, err as Error, labels, log);
    }
  }

  private async compose(row: ClaimedMessage): Promise<string> {
    let text: string;
    try {
      text = renderTemplate(row.template, row.variables ?? {});
    } catch (err) {
      throw new PermanentDeliveryError((err as Error).message);
    }
    if (!row.personalize) return text;
    // Fail-open: the personalizer never throws and returns the template on any failure (counted there).
    const result = await this.deps.personalizer.personalize({
      text,
      tone: row.tone ?? undefined,
      contextHints: row.context_hints ?? undefined,
      signal: this.abortSends.signal,
    });
    return result.text;
  }

  private async recordFailure(
    row: ClaimedMessage,
    token: string,
    err: Error,
    labels: { channel: string; strategy: string },
    log: Logger,
  ): Promise<void> {
    const { config, metrics, rateLimits, db } = this.deps;
    if (err instanceof RateLimitedError) {
      await rateLimits.providerAskedToWait(row.channel, err.retryAfterMs);
      metrics.sends.inc({ ...labels, result: 'rate_limited' });
      log.warn('provider asked to slow down: channel paused', { retryAfterMs: err.retryAfterMs });
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
    if (this.inFlight.size >= config.concurrency) return config.maxSleepMs; // a finishing send wakes us
    const paused = rateLimits.pausedChannels();
    const candidates = [config.maxSleepMs];
    const dueIn = await nextWakeInMs(db, paused);
    if (dueIn !== undefined) candidates.push(dueIn);
    const resumeAt = rateLimits.nextResumeAt();
    if (resumeAt !== undefined) candidates.push(Math.max(0, resumeAt - Date.now()));
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
    await this.deps.db.query('SELECT pg_notify($1, $2)', [WAKEUP_CHANNEL, this.pingPayload]);
  }
}

function strategyOf(row: ClaimedMessage): string {
  const strategy = row.variables?.['strategy'];
  return typeof strategy === 'string' && strategy.length <= 32 ? strategy : row.type;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
