/** A held lock: a lease with a token, renewed in the background while held. */
export interface Lease {
  /** Lock name without prefix, e.g. "call-cleanup". */
  readonly name: string;
  /** Full key, e.g. "lock:call-cleanup" (plus the configured key prefix). */
  readonly key: string;
  readonly token: string;
  /** Aborts when the lease is lost: renewal refused, or not confirmed before the TTL ran out. */
  readonly signal: AbortSignal;
  /** True while the lease is certainly ours: not lost, not released, within the confirmed TTL. */
  isHeld(): boolean;
  /** Compare-and-set release; false when the lock had already expired or was taken over. */
  release(): Promise<boolean>;
}

export interface LockInfo {
  key: string;
  /** The holder's instance id, from the token. */
  owner: string;
  token: string;
  ttlMs: number;
}

/** Raised when the lock store itself failed (as opposed to the lock being held by another). */
export class LockStoreUnavailableError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'LockStoreUnavailableError';
  }
}

/** Lease locks as the scheduler sees them; Redis in production, in-process for one process. */
export interface LeaseLocks {
  readonly kind: 'redis' | 'in-process';
  /** null when another holder has the lock; throws LockStoreUnavailableError when the store fails. */
  acquire(name: string, ttlMs: number): Promise<Lease | null>;
  /** Leases this process holds now (shutdown releases them). */
  held(): Lease[];
  /** Every lock:* key in the store with its owner and remaining TTL. */
  list(): Promise<LockInfo[]>;
  /** Deletes a lock only if its token still matches the one given (an operator clearing a stuck lock). */
  forceRelease(name: string, token: string): Promise<boolean>;
}

export function lockKey(prefix: string, name: string): string {
  return `${prefix}lock:${name}`;
}

/** Tokens carry the owner so `crm-worker locks` can say who holds what. */
export function ownerOfToken(token: string): string {
  const at = token.lastIndexOf('/');
  return at > 0 ? token.slice(0, at) : token;
}
