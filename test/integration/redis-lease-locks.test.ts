import { createRedisLeaseLocks } from '../../src/locks/redis-lease-locks';
import { LockStoreUnavailableError } from '../../src/locks/lease';
import { LeaseLostError } from '../../src/locks/renewing-lease';
import type { RedisClient } from '../../src/redis/redis-client';
import { connectTestRedis, quietLogger } from '../support/harness';
import { TEST_REDIS_URL, createKeyPrefix } from '../support/services';
import { startTcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait';

describe('Redis lease locks (SET NX PX + Lua compare-and-set)', () => {
  const keys = createKeyPrefix();
  let redis: RedisClient;
  const locksFor = (owner: string, commandTimeoutMs = 2_000, client = redis) =>
    createRedisLeaseLocks({ client, keyPrefix: keys.prefix, owner, commandTimeoutMs, logger: quietLogger });

  beforeAll(async () => {
    redis = await connectTestRedis(TEST_REDIS_URL);
  });
  afterAll(async () => {
    await keys.removeKeys();
    await redis.quit();
  });

  it('takes lock:<name> with a token and a TTL, and refuses a second holder', async () => {
    const a = locksFor('replica-a');
    const b = locksFor('replica-b');
    const lease = await a.acquire('trial-expiration', 5_000);
    expect(lease).not.toBeNull();
    expect(lease!.key).toBe(`${keys.prefix}lock:trial-expiration`);
    expect(await redis.get(lease!.key)).toBe(lease!.token);
    const ttl = await redis.pTTL(lease!.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5_000);
    expect(await b.acquire('trial-expiration', 5_000)).toBeNull();
    expect(await lease!.release()).toBe(true);
    expect(await redis.exists(lease!.key)).toBe(0);
  });

  it('never deletes a lock another holder took after ours expired', async () => {
    const a = locksFor('replica-a');
    const b = locksFor('replica-b');
    const leaseA = (await a.acquire('call-cleanup', 5_000))!;
    // Simulate expiry and takeover: the key now belongs to B.
    await redis.del(leaseA.key);
    const leaseB = (await b.acquire('call-cleanup', 5_000))!;
    expect(leaseB).not.toBeNull();
    expect(await leaseA.release()).toBe(false);
    expect(await redis.get(leaseB.key)).toBe(leaseB.token);
    await leaseB.release();
  });

  it('renews at half the TTL while held, and aborts the holder when renewal is refused', async () => {
    const a = locksFor('replica-a');
    const lease = (await a.acquire('renewal', 1_000))!;
    // Sample for about three TTLs: renewal must keep the key alive throughout.
    const seen: number[] = [];
    await waitFor(
      'the key to survive past its first TTL',
      async () => {
        seen.push(await redis.pTTL(lease.key));
        return seen.length >= 30 && seen.every((t) => t > 0);
      },
      { everyMs: 100 },
    );
    expect(lease.isHeld()).toBe(true);
    // Another writer takes the key: the next renewal is refused and the signal aborts.
    await redis.set(lease.key, 'someone-else/token', { PX: 10_000 });
    await waitFor('the lease to be lost', () => lease.signal.aborted);
    expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    expect(lease.isHeld()).toBe(false);
    expect(await lease.release()).toBe(false);
    expect(await redis.get(lease.key)).toBe('someone-else/token');
  });

  it('lists locks with owner and TTL, and force-release needs the current token', async () => {
    const a = locksFor('replica-a');
    const lease = (await a.acquire('campaign-scheduler', 5_000))!;
    const listed = await a.list();
    expect(listed.filter((l) => l.key === lease.key)).toEqual([expect.objectContaining({ owner: 'replica-a', token: lease.token, ttlMs: expect.any(Number) })]);
    expect(await a.forceRelease('campaign-scheduler', 'replica-a/not-the-token')).toBe(false);
    expect(await redis.exists(lease.key)).toBe(1);
    expect(await a.forceRelease('campaign-scheduler', lease.token)).toBe(true);
    expect(await redis.exists(lease.key)).toBe(0);
    await lease.release();
  });

  it('gives up on a hung Redis at the command deadline instead of hanging', async () => {
    const url = new URL(TEST_REDIS_URL);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 6379) });
    const client = await connectTestRedis(proxy.url('redis'));
    try {
      const locks = locksFor('replica-hung', 300, client);
      const lease = await locks.acquire('hung', 5_000);
      expect(lease).not.toBeNull();
      proxy.setMode('blackhole');
      await expect(locks.acquire('hung-2', 5_000)).rejects.toBeInstanceOf(LockStoreUnavailableError);
      // The held lease cannot be renewed through a hung Redis: it ends at its TTL, not later.
      expect(await lease!.release()).toBe(false);
    } finally {
      client.destroy();
      await proxy.close();
    }
  });
});
