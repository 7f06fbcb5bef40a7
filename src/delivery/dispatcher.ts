import { randomBytes } from 'node:crypto';
import type { Personalizer } from '../ai/personalizer';
import type { Channel, ChannelName } from '../channels/channel';
import type { DeliveryConfig } from '../config/config';
import type { Database } from '../db/database';
import type { DatabaseClock } from '../db/database-clock';
import type { Logger } from '../logging/logger';
import { monotonicMs } from '../util/deadline';
import { DatabaseBackoff } from './database-backoff';
import type { DeliveryMetrics } from './delivery-metrics';
import { Claimer } from './dispatch/claimer';
import { LocalQueue } from './dispatch/local-queue';
import { sweepExpiredLeases } from './dispatch/lease-sweep';
import { MessageSender } from './dispatch/message-sender';
import { delay } from './dispatch/persist';
import { SendSlots } from './dispatch/send-slots';
import { WakeUpListener } from './dispatch/wakeup-listener';
import { WakeableSleep } from './dispatch/wakeable-sleep';
import { strategyLabeler } from './metric-labels';
import { nextWakeInMs, releaseClaims } from './outbox/claim';
import type { ChannelRateLimits } from './rate-limits';
import { SentWriter } from './sent-writer';
import type { TemplateEngine } from '../templates/template-engine';
import { recordHeartbeat } from './worker-health';
import type { Tracing } from '../observability/tracing';

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
  /** A span per send (OTEL_EXPORTER_OTLP_ENDPOINT); none without. */
  tracing?: Tracing;
}

const HEARTBEAT_EVERY_MS = 5_000;
const LEASE_SWEEP_EVERY_MS = 1_000;

/**
 * Sends due messages at their time: the loop. It sleeps until the earliest due row (asked of the
 * database, on its clock) and is woken early by NOTIFY when something earlier is scheduled
 * (dispatch/wakeup-listener.ts), so there is no fixed poll. Rows are claimed with SKIP LOCKED
 * under a lease, a batch at a time ahead of the free send slots (one claim statement per batch,
 * not per send; a NOTIFY during a claim claims beside it: dispatch/claimer.ts), into the local
 * queue (dispatch/local-queue.ts) as 'claimed'; the send slots
 * (dispatch/send-slots.ts) mark each group about to start 'sending' and start at most
 * `concurrency` sends (dispatch/message-sender.ts). Database errors back off exponentially and
 * the loop resumes by itself; nothing here crashes the process.
 */
export class Dispatcher {
  private readonly log: Logger;
  private readonly sentWriter: SentWriter;
  private readonly queue: LocalQueue;
  private readonly slots: SendSlots;
  private readonly sender: MessageSender;
  private readonly listener: WakeUpListener;
  private readonly abortSends = new AbortController();
  /** Aborted when stop() begins: ends a backoff, which wake-ups do not. */
  private readonly stopSignal = new AbortController();
  private readonly backoff: DatabaseBackoff;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly sleeper = new WakeableSleep();
  /** A NOTIFY said new rows were scheduled since the last claim: they may outrank the queue's. */
  private notified = false;
  private lastHeartbeatAt = 0;
  private lastLeaseSweepAt = 0;
  private readonly claimer: Claimer;
  /** The closed set of `strategy` label values (metric-labels.ts): never a caller's free text. */
  private readonly strategyOf: (row: { type: string; variables: Record<string, unknown> | null }) => string;
  /** Last successful tick (for logs and tests); the shared record is delivery_heartbeats. */
  lastTickAt: Date | undefined;

  constructor(private readonly deps: DispatcherDeps) {
    this.log = deps.logger.child({ component: 'delivery-dispatcher' });
    this.sentWriter = new SentWriter(deps.db, this.log, deps.metrics);
    this.backoff = new DatabaseBackoff({ db: deps.db, metrics: deps.metrics, log: this.log, stop: this.stopSignal.signal });
    const tokenPrefix = `${deps.instanceId}:${randomBytes(3).toString('hex')}`;
    this.strategyOf = strategyLabeler(deps.config.followup.scheduleSeconds);
    const stopping = () => this.stopping;
    this.queue = new LocalQueue(deps.config, deps.idempotentChannels);
    this.slots = new SendSlots({
      db: deps.db,
      queue: this.queue,
      config: deps.config,
      rateLimits: deps.rateLimits,
      log: this.log,
      deliver: (row, token) => this.sender.deliver(row, token),
      wakeUp: () => this.wakeUp(),
      stopping,
      abortSends: this.abortSends.signal,
    });
    this.sender = new MessageSender({
      ...deps,
      log: this.log,
      queue: this.queue,
      slots: this.slots,
      sentWriter: this.sentWriter,
      strategyOf: this.strategyOf,
      stopping,
      abortSends: this.abortSends.signal,
    });
    this.claimer = new Claimer({
      ...deps,
      queue: this.queue,
      log: this.log,
      strategyOf: this.strategyOf,
      launch: () => this.slots.launch(),
      stopping,
      tokenPrefix,
    });
    this.listener = new WakeUpListener({ db: deps.db, log: this.log, pingPrefix: tokenPrefix, onWakeUp: () => this.wakeUpForNewRows() });
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
    await this.claimer.settled();
    await this.slots.settled();
    await this.slots.release(this.queue.takeAllWaiting()).catch(() => undefined);
    const deadline = monotonicMs() + timeoutMs;
    while (this.queue.inFlight.size > 0 && monotonicMs() < deadline) await delay(20);
    // Rows whose send never started go back at once; started ones keep their lease (outcome unknown).
    for (const [token, ids] of this.queue.unstartedByToken()) await releaseClaims(this.deps.db, { ids, token }).catch(() => undefined);
    this.abortSends.abort(new Error('dispatcher stopping'));
    await this.sentWriter.drain(1_000);
    this.sentWriter.close();
    await this.listener.close();
  }

  /** Wakes the loop to look for due work now (NOTIFY, a freed slot, a test). */
  wakeUp(): void {
    this.sleeper.wake();
  }

  /**
   * New rows were scheduled (a NOTIFY): they may outrank the queued ones (a transactional row
   * behind a marketing backlog), so the next pass claims if the queue has any room, not only once
   * it is down to its low-water mark.
   */
  private wakeUpForNewRows(): void {
    this.notified = true;
    this.wakeUp();
    this.claimer.newRowsScheduled();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.listener.ensureListening();
        const claimedFull = await this.tick();
        this.backoff.succeeded();
        if (claimedFull || this.stopping) continue;
        await this.sleeper.sleep(await this.millisUntilNextWork());
      } catch (err) {
        // The LISTEN connection may have died with the database: listen again after recovery.
        this.listener.drop();
        await this.backoff.failed(err as Error);
      }
    }
  }

  /** One pass: heartbeat, lease sweep, claim into the local queue and launch. True when there is more to claim now. */
  private async tick(): Promise<boolean> {
    const { db } = this.deps;
    // Intervals on the monotonic clock: a wall-clock step back would otherwise stop the
    // heartbeat, the listener check and the lease sweep for the size of the step.
    const now = monotonicMs();
    if (now - this.lastHeartbeatAt >= HEARTBEAT_EVERY_MS) {
      await this.listener.checkAndPing(now, HEARTBEAT_EVERY_MS / 2);
      await recordHeartbeat(db, this.deps.instanceId);
      await this.deps.clock.sample();
      this.lastHeartbeatAt = now;
    }
    if (now - this.lastLeaseSweepAt >= LEASE_SWEEP_EVERY_MS) {
      await sweepExpiredLeases({ ...this.deps, log: this.log });
      this.lastLeaseSweepAt = now;
    }
    this.lastTickAt = new Date();
    this.deps.metrics.dispatcherLastTick.set(this.lastTickAt.getTime() / 1000);
    await this.slots.renewWaitingLeases();

    // Rows held past half the lease (slots busy longer than the queue was sized for) go back
    // before the lease sweep would take them from under us; their checks are old by now too.
    const stale = this.queue.takeHeldTooLong();
    if (stale.length > 0) {
      await this.slots.release(stale);
      this.log.info('claimed messages held past half their lease returned to scheduled', { count: stale.length });
    }
    // Claim ahead of the free slots: one claim (the costly statement, with the send-time checks)
    // for a batch, while the slots drain the local queue.
    const { target, lowWater } = this.queue.target();
    const refillBelow = this.notified ? target : lowWater;
    this.notified = false;
    if (this.queue.prefetched.length >= refillBelow) {
      await this.slots.launch();
      return false;
    }
    const limit = target - this.queue.prefetched.length;
    const claimed = await this.claimer.claimForLoop(limit);
    await this.slots.launch();
    return claimed === limit && this.queue.prefetched.length < lowWater;
  }

  private async millisUntilNextWork(): Promise<number> {
    const { config, rateLimits, db } = this.deps;
    // Rows waiting for a slot need their leases renewed in time, even if no send finishes meanwhile.
    const longest = this.queue.waitingLeases().length > 0 ? Math.min(config.maxSleepMs, this.queue.leaseThresholds().renewEveryMs) : config.maxSleepMs;
    // A finishing send wakes us; while the local queue is full enough there is nothing to claim.
    if (this.queue.prefetched.length >= this.queue.target().lowWater) return longest;
    const paused = rateLimits.pausedChannels();
    const candidates = [longest];
    const dueIn = await nextWakeInMs(db, paused);
    if (dueIn !== undefined) candidates.push(dueIn);
    const resumeAt = rateLimits.nextResumeAt();
    if (resumeAt !== undefined) candidates.push(Math.max(0, resumeAt - monotonicMs()));
    return Math.max(0, Math.min(...candidates));
  }
}
