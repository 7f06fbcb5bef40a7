import type { Config } from '../config/config';
import { lockKey, ownerOfToken, type LeaseLocks } from '../locks/lease';
import type { RedisConnection } from '../redis/redis-client';
import { CliError, type CliIo } from './cli-io';

/** `crm-worker locks`: every lock:* key under the configured prefix with its owner and TTL. */
export async function listLocks(locks: LeaseLocks, io: CliIo): Promise<number> {
  const infos = await locks.list();
  if (infos.length === 0) {
    io.out('no locks held');
    return 0;
  }
  io.out(['KEY', 'OWNER', 'TTL'].join('\t'));
  for (const info of infos) io.out([info.key, info.owner, formatTtl(info.ttlMs)].join('\t'));
  return 0;
}

export interface UnlockOptions {
  /** Clear only if this instance holds it (an operator who knows that worker is dead). */
  owner?: string;
  /** Clear even though a live holder may exist; requires a reason, which is printed and logged. */
  force?: boolean;
  reason?: string;
}

/**
 * `crm-worker unlock <job>`: clears a stuck lock without ever deleting a lock that changed hands
 * meanwhile (compare-and-set on the token read). Safe without flags only when the key has no
 * expiry (a lease of ours always has one, so it can never expire by itself). A lease with a TTL
 * expires on its own; clearing it early needs --owner (that holder) or --force with --reason.
 * Even a forced clear cannot make a tick run twice: the job_runs fence still holds per tick.
 */
export async function unlock(
  deps: { config: Config; redis: RedisConnection; locks: LeaseLocks; logger: { warn(m: string, meta?: object): unknown } },
  job: string,
  options: UnlockOptions,
  io: CliIo,
): Promise<number> {
  const key = lockKey(deps.config.redis.keyPrefix, job);
  const [token, ttl] = await Promise.all([deps.redis.get(key), deps.redis.pTTL(key)]);
  if (token === null) {
    io.out(`${key} is not held; nothing to clear`);
    return 0;
  }
  const owner = ownerOfToken(token);
  const ttlMs = Number(ttl);
  let why: string;
  if (ttlMs < 0) {
    why = 'it has no expiry, so it would never clear by itself';
  } else if (options.owner !== undefined) {
    if (options.owner !== owner) {
      throw new CliError(`${key} is held by ${owner}, not ${options.owner}; left in place`, 3);
    }
    why = `held by ${owner}, named by the operator`;
  } else if (options.force) {
    if (!options.reason?.trim()) throw new CliError('--force needs --reason "<why this lock must go now>"', 2);
    why = `forced: ${options.reason.trim()}`;
  } else {
    throw new CliError(
      `${key} is held by ${owner} and expires by itself in ${formatTtl(ttlMs)}. ` +
        `If that worker is dead: crm-worker unlock ${job} --owner ${owner}; ` +
        `to clear it anyway: --force --reason "...". Left in place.`,
      3,
    );
  }
  const released = await deps.locks.forceRelease(job, token);
  if (!released) {
    throw new CliError(`${key} changed hands while checking (no longer the token read); left in place`, 3);
  }
  deps.logger.warn('lock cleared by operator', { key, owner, reason: why });
  io.out(`cleared ${key} (was held by ${owner}; ${why})`);
  return 0;
}

function formatTtl(ttlMs: number): string {
  if (ttlMs === -1) return 'no expiry';
  if (ttlMs < 0) return 'gone';
  return ttlMs >= 10_000 ? `${Math.round(ttlMs / 1000)}s` : `${ttlMs}ms`;
}
