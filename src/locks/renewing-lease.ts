import { randomUUID } from 'node:crypto';
import type { Lease } from './lease';
import type { Logger } from '../logging/logger';
import { monotonicMs } from '../util/deadline';

/** What a lease needs from its store: compare-and-set extend and release. */
export interface LeaseStore {
  extend(key: string, token: string, ttlMs: number): Promise<boolean>;
  release(key: string, token: string): Promise<boolean>;
}

export class LeaseLostError extends Error {
  constructor(
    readonly lockName: string,
    reason: string,
  ) {
    super(`lease on ${lockName} lost: ${reason}`);
    this.name = 'LeaseLostError';
  }
}

export function newToken(owner: string): string {
  return `${owner}/${randomUUID()}`;
}

/**
 * The lease logic shared by every store. Validity is tracked on the monotonic clock from the
 * moment the acquiring command was *sent*, minus a drift margin, so a holder never believes in a
 * lease longer than the store does — also after the process was paused (SIGSTOP) or starved.
 * Renewal runs at half the TTL; a refused renewal or one that cannot be confirmed before expiry
 * aborts the signal, and the job stops writing.
 */
export class RenewingLease implements Lease {
  private readonly controller = new AbortController();
  private validUntil: number;
  private released = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: LeaseStore,
    readonly name: string,
    readonly key: string,
    readonly token: string,
    private readonly ttlMs: number,
    sentAtMs: number,
    private readonly onLost: (lease: RenewingLease, reason: string) => void,
    private readonly onEnd: (lease: RenewingLease) => void,
  ) {
    this.validUntil = sentAtMs + ttlMs - driftMs(ttlMs);
    this.armExpiry();
    this.scheduleRenewal(ttlMs / 2);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  isHeld(): boolean {
    return !this.released && !this.controller.signal.aborted && monotonicMs() < this.validUntil;
  }

  async release(): Promise<boolean> {
    if (this.released) return false;
    this.released = true;
    this.stopTimers();
    this.onEnd(this);
    // Release is best-effort: a lock that already expired or was taken over is not an error
    // for the caller, and the CAS guarantees we never delete another holder's lock.
    return this.store.release(this.key, this.token);
  }

  private lose(reason: string): void {
    if (this.released || this.controller.signal.aborted) return;
    this.stopTimers();
    this.onEnd(this);
    this.controller.abort(new LeaseLostError(this.name, reason));
    this.onLost(this, reason);
  }

  private scheduleRenewal(inMs: number): void {
    this.renewTimer = setTimeout(() => void this.renew(), Math.max(1, inMs));
    this.renewTimer.unref();
  }

  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const remaining = this.validUntil - monotonicMs();
    this.expiryTimer = setTimeout(
      () => {
        if (monotonicMs() >= this.validUntil) this.lose('TTL ran out before a renewal was confirmed');
        else this.armExpiry();
      },
      Math.max(1, remaining),
    );
    this.expiryTimer.unref();
  }

  private async renew(): Promise<void> {
    if (!this.isHeld()) {
      this.lose('TTL ran out before a renewal was confirmed');
      return;
    }
    const sentAt = monotonicMs();
    try {
      const extended = await this.store.extend(this.key, this.token, this.ttlMs);
      if (this.released || this.controller.signal.aborted) return;
      if (!extended) {
        this.lose('renewal refused: the lock expired or another holder took it');
        return;
      }
      this.validUntil = sentAt + this.ttlMs - driftMs(this.ttlMs);
      this.armExpiry();
      this.scheduleRenewal(this.ttlMs / 2);
    } catch {
      // A transient store error: try again soon; the expiry timer ends the lease if none succeeds.
      if (!this.released && !this.controller.signal.aborted) this.scheduleRenewal(Math.min(this.ttlMs / 10, 1_000));
    }
  }

  private stopTimers(): void {
    clearTimeout(this.renewTimer);
    clearTimeout(this.expiryTimer);
  }
}

/** Safety margin for clock drift between us and the store (as Redlock does: 1% + 2 ms). */
function driftMs(ttlMs: number): number {
  return Math.floor(ttlMs * 0.01) + 2;
}

/** The leases one process holds in one store: started here, forgotten when released or lost. */
export class HeldLeases {
  private readonly leases = new Set<RenewingLease>();

  constructor(
    private readonly store: LeaseStore,
    private readonly logger: Logger,
  ) {}

  /** Starts renewing a lease the store just granted (the command was sent at sentAtMs). */
  start(name: string, key: string, token: string, ttlMs: number, sentAtMs: number): RenewingLease {
    const lease = new RenewingLease(
      this.store,
      name,
      key,
      token,
      ttlMs,
      sentAtMs,
      (l, reason) => this.logger.warn('lease lost', { lock: l.key, reason }),
      (l) => this.leases.delete(l),
    );
    this.leases.add(lease);
    return lease;
  }

  list(): RenewingLease[] {
    return [...this.leases];
  }
}
