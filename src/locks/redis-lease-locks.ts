import type { RedisConnection } from '../redis/redis-client';
import type { Logger } from '../logging/logger';
import { withDeadline, monotonicMs, DeadlineExceededError } from '../util/deadline';
import { type Lease, type LeaseLocks, type LockInfo, LockStoreUnavailableError, lockKey, ownerOfToken } from './lease';
import { HeldLeases, type LeaseStore, newToken } from './renewing-lease';

// Compare-and-set in Lua: the GET and the DEL/PEXPIRE happen atomically on the server, so a
// holder whose lease expired can never delete or extend the next holder's lock.
const RELEASE_IF_OWNER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND_IF_OWNER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface RedisLeaseLocksOptions {
  client: RedisConnection;
  keyPrefix: string;
  owner: string;
  /** Each Redis call's own deadline. */
  commandTimeoutMs: number;
  logger: Logger;
}

/** Lease locks in Redis: SET key token NX PX ttl to take, Lua compare-and-set to extend and release. */
export function createRedisLeaseLocks(options: RedisLeaseLocksOptions): LeaseLocks {
  const { client, keyPrefix, owner, commandTimeoutMs, logger } = options;

  const call = async <T>(what: string, command: () => Promise<T>): Promise<T> => {
    try {
      return await withDeadline(command(), commandTimeoutMs, `redis ${what}`);
    } catch (err) {
      throw new LockStoreUnavailableError(`redis ${what} failed: ${(err as Error).message}`, err);
    }
  };

  const store: LeaseStore = {
    async extend(key, token, ttlMs) {
      const result = await call('extend', () => client.eval(EXTEND_IF_OWNER, { keys: [key], arguments: [token, String(Math.ceil(ttlMs))] }));
      return Number(result) === 1;
    },
    async release(key, token) {
      try {
        const result = await call('release', () => client.eval(RELEASE_IF_OWNER, { keys: [key], arguments: [token] }));
        return Number(result) === 1;
      } catch (err) {
        logger.warn('lock release failed; the lock will expire by its TTL', { key, error: (err as Error).message });
        return false;
      }
    },
  };

  const heldLeases = new HeldLeases(store, logger);
  return {
    kind: 'redis',
    async acquire(name, ttlMs): Promise<Lease | null> {
      const key = lockKey(keyPrefix, name);
      const token = newToken(owner);
      const sentAt = monotonicMs();
      let reply: string | null;
      try {
        reply = await call('set', () => client.set(key, token, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } }));
      } catch (err) {
        // The SET may still land after our deadline: take it back if it did, so the lock is not
        // held by nobody until its TTL runs out.
        if ((err as LockStoreUnavailableError).cause instanceof DeadlineExceededError) void store.release(key, token);
        throw err;
      }
      if (reply !== 'OK') return null;
      return heldLeases.start(name, key, token, ttlMs, sentAt);
    },
    held: () => heldLeases.list(),
    async list(): Promise<LockInfo[]> {
      // SCAN by cursor rather than scanIterator, which the Sentinel client does not have.
      const keys: string[] = [];
      let cursor = '0';
      do {
        const page = await call('scan', () => client.scan(cursor, { MATCH: lockKey(keyPrefix, '*'), COUNT: 100 }));
        keys.push(...page.keys);
        cursor = String(page.cursor);
      } while (cursor !== '0');
      const infos: LockInfo[] = [];
      for (const key of keys.sort()) {
        const [token, ttlMs] = await call('inspect', () => Promise.all([client.get(key), client.pTTL(key)]));
        if (token === null) continue;
        infos.push({ key, owner: ownerOfToken(token), token, ttlMs: Number(ttlMs) });
      }
      return infos;
    },
    forceRelease: (name, token) => store.release(lockKey(keyPrefix, name), token),
  };
}
