import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RedisConnection } from '../redis/redis-client';
import { monotonicMs } from '../util/deadline';

/**
 * Per-channel send limits (DELIVERY_RATE_LIMITS, SMS 10 per minute by default) and pauses.
 * With Redis the counters are shared, so the limit holds across every worker process; without
 * Redis (the embedded default, one process) they are in-process. A provider's 429 pauses the
 * channel here for Retry-After, in this process at once and through the shared counter for the others.
 */
export class ChannelRateLimits {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly pausedUntil = new Map<string, number>();
  /** Destinations (a webhook receiver's origin) paused by their own 429, in this process. */
  private readonly destinationPausedUntil = new Map<string, number>();

  constructor(limits: Readonly<Record<string, { points: number; durationSeconds: number }>>, deps: { redis: RedisConnection | undefined; keyPrefix: string }) {
    for (const [channel, limit] of Object.entries(limits)) {
      const options = { points: limit.points, duration: limit.durationSeconds, keyPrefix: `${deps.keyPrefix}delivery:rate` };
      this.limiters.set(
        channel,
        deps.redis
          ? new RateLimiterRedis({ ...options, storeClient: deps.redis, useRedisPackage: true, rejectIfRedisNotReady: true })
          : new RateLimiterMemory(options),
      );
    }
  }

  /** Channels this process must not claim for now (paused by a 429 or an exhausted limit). */
  pausedChannels(now = monotonicMs()): string[] {
    const paused: string[] = [];
    for (const [channel, until] of this.pausedUntil) {
      if (until > now) paused.push(channel);
      else this.pausedUntil.delete(channel);
    }
    return paused;
  }

  /** Earliest moment (monotonicMs) a paused channel opens again, for the dispatcher's sleep. */
  nextResumeAt(): number | undefined {
    const times = [...this.pausedUntil.values()];
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  /**
   * Takes one send from the channel's budget. Returns 0 when the send may go now, or how many ms
   * to wait (and pauses the channel that long). Redis errors count as "wait a second", never as
   * permission: a limit that fails open is no limit.
   */
  async acquire(channel: string): Promise<number> {
    const paused = this.pausedUntil.get(channel);
    const now = monotonicMs();
    if (paused !== undefined && paused > now) return paused - now;
    const limiter = this.limiters.get(channel);
    if (!limiter) return 0;
    try {
      await limiter.consume(channel, 1);
      return 0;
    } catch (rejection) {
      const waitMs = rejection instanceof RateLimiterRes ? Math.max(rejection.msBeforeNext, 1) : 1_000;
      this.pause(channel, waitMs);
      return waitMs;
    }
  }

  /** A provider said 429 / Retry-After: stop sending on this channel for that long. */
  async providerAskedToWait(channel: string, waitMs: number): Promise<void> {
    this.pause(channel, waitMs);
    const limiter = this.limiters.get(channel);
    if (limiter) await limiter.block(channel, Math.max(1, Math.ceil(waitMs / 1000))).catch(() => undefined);
  }

  /**
   * A receiver behind a many-destination channel said 429: pause that destination only. Kept in
   * this process (each worker learns it from its own 429): a shared entry would cost a Redis
   * round trip on every webhook send.
   */
  destinationAskedToWait(destination: string, waitMs: number): void {
    const until = monotonicMs() + waitMs;
    if ((this.destinationPausedUntil.get(destination) ?? 0) < until) this.destinationPausedUntil.set(destination, until);
  }

  /** How many ms sends to this destination must still wait (0 = go). */
  destinationWaitMs(destination: string | undefined, now = monotonicMs()): number {
    if (destination === undefined) return 0;
    const until = this.destinationPausedUntil.get(destination);
    if (until === undefined) return 0;
    if (until <= now) {
      this.destinationPausedUntil.delete(destination);
      return 0;
    }
    return until - now;
  }

  /** Pauses are intervals: on the monotonic clock, so a wall-clock step neither ends nor prolongs one. */
  private pause(channel: string, waitMs: number): void {
    const until = monotonicMs() + waitMs;
    if ((this.pausedUntil.get(channel) ?? 0) < until) this.pausedUntil.set(channel, until);
  }
}
