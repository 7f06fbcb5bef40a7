import type { Logger } from '../logging/logger';
import { monotonicMs } from '../util/deadline';
import { type Lease, type LeaseLocks, type LockInfo, lockKey, ownerOfToken } from './lease';
import { HeldLeases, type LeaseStore, newToken } from './renewing-lease';

/**
 * Stands in for Redis when no REDIS_URL is set: correct for one process only, which is what
 * the embedded default is. /health reports it as "in-process" so nobody mistakes it for a
 * distributed lock. Same lease semantics (TTL, tokens, renewal) as the Redis store.
 */
export function createInProcessLeaseLocks(options: { owner: string; logger: Logger }): LeaseLocks {
  const entries = new Map<string, { token: string; expiresAt: number }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= monotonicMs()) entries.delete(key);
    return entries.get(key);
  };

  const store: LeaseStore = {
    async extend(key, token, ttlMs) {
      const entry = live(key);
      if (entry?.token !== token) return false;
      entry.expiresAt = monotonicMs() + ttlMs;
      return true;
    },
    async release(key, token) {
      if (live(key)?.token !== token) return false;
      entries.delete(key);
      return true;
    },
  };

  const heldLeases = new HeldLeases(store, options.logger);
  return {
    kind: 'in-process',
    async acquire(name, ttlMs): Promise<Lease | null> {
      const key = lockKey('', name);
      if (live(key)) return null;
      const token = newToken(options.owner);
      const now = monotonicMs();
      entries.set(key, { token, expiresAt: now + ttlMs });
      return heldLeases.start(name, key, token, ttlMs, now);
    },
    held: () => heldLeases.list(),
    async list(): Promise<LockInfo[]> {
      const now = monotonicMs();
      return [...entries.entries()]
        .filter(([, e]) => e.expiresAt > now)
        .map(([key, e]) => ({ key, owner: ownerOfToken(e.token), token: e.token, ttlMs: e.expiresAt - now }));
    },
    forceRelease: (name, token) => store.release(lockKey('', name), token),
  };
}
