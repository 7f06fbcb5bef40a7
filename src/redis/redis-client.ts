import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, createSentinel, type RedisClientType } from '@redis/client';
import type { Logger } from '../logging/logger';
import { withDeadline } from '../util/deadline';

type SentinelClient = ReturnType<typeof createSentinel>;

/** A node-redis client for one server (REDIS_URL); what the tests and tools open directly. */
export type RedisClient = RedisClientType;

/**
 * What crm-worker asks of Redis, whether it reaches one server (REDIS_URL) or the master that
 * the sentinels name (REDIS_SENTINELS): a node-redis client or a node-redis Sentinel client,
 * which share these commands. (rate-limiter-flexible also calls `multi()`, which both have.)
 */
export type RedisConnection = Pick<SentinelClient, 'set' | 'get' | 'pTTL' | 'eval' | 'scan' | 'ping'> & {
  readonly isReady: boolean;
  readonly isOpen: boolean;
  close(): Promise<void>;
  destroy(): unknown;
};

/** How to reach Redis (config's RedisConfig has this shape): a URL, or the sentinels and the master's name. */
export interface RedisTarget {
  readonly url: string | undefined;
  readonly sentinel: SentinelTarget | undefined;
  /** Each call's deadline; also the connect timeout. */
  readonly commandTimeoutMs: number;
}

export interface SentinelTarget {
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  readonly masterName: string;
  /** Of the master and replicas. */
  readonly password: string | undefined;
  /** Of the sentinels. */
  readonly sentinelPassword: string | undefined;
}

const reconnectStrategy = (retries: number) => Math.min(100 * 2 ** Math.min(retries, 6), 5_000);
const nodeReconnectStrategy = (retries: number) =>
  retries < 3 ? 100 * 2 ** retries : new Error('redis node unreachable; asking the sentinels for the master');

/**
 * Connects to Redis the configured way. The client never queues commands while disconnected
 * (they fail at once, so a tick is skipped instead of hanging) and reconnects forever with
 * capped backoff. Without a server at startup the worker starts anyway: /health reports Redis
 * down, ticks are skipped until it answers, and the client keeps connecting in the background.
 */
export async function connectRedis(redis: RedisTarget, logger: Logger): Promise<RedisConnection> {
  if (redis.sentinel) return connectSentinel(redis.sentinel, logger, redis.commandTimeoutMs);
  if (!redis.url) throw new Error('connectRedis: neither REDIS_URL nor REDIS_SENTINELS is set');
  const client = createClient({ url: redis.url, disableOfflineQueue: true, socket: { connectTimeout: redis.commandTimeoutMs, reconnectStrategy } });
  client.on('error', throttledWarning(logger));
  client.on('ready', () => logger.info('redis connected'));
  try {
    await withDeadline(client.connect(), redis.commandTimeoutMs, 'redis connect');
  } catch (err) {
    logger.warn('redis not reachable at startup; continuing and reconnecting', { error: (err as Error).message });
  }
  return client;
}

/**
 * Stops the background connect loop of a Sentinel client whose first connect failed. Keyed by
 * the client, because the callers hold only the client, and closeRedis must end that loop too.
 */
const stopConnecting = new WeakMap<RedisConnection, () => void>();

/**
 * node-redis's Sentinel client: it asks the sentinels for the master, follows `+switch-master`
 * (and a READONLY reply from a demoted master) to the promoted replica, and while no master is
 * known it holds commands until one is; each of our calls has its own deadline, so a tick is
 * skipped meanwhile instead of waiting for the failover.
 */
async function connectSentinel(sentinel: SentinelTarget, logger: Logger, commandTimeoutMs: number): Promise<RedisConnection> {
  const client = createSentinel({
    name: sentinel.masterName,
    sentinelRootNodes: sentinel.nodes.map((n) => ({ host: n.host, port: n.port })),
    nodeClientOptions: {
      ...(sentinel.password ? { password: sentinel.password } : {}),
      disableOfflineQueue: true,
      // A few quick retries, then the connection gives up and the next command asks the
      // sentinels again: the master may have moved. Retrying a dead master for ever would also
      // hold up the library's rediscovery, which waits for the master connection it opens.
      socket: { connectTimeout: commandTimeoutMs, reconnectStrategy: nodeReconnectStrategy },
    },
    sentinelClientOptions: {
      ...(sentinel.sentinelPassword ? { password: sentinel.sentinelPassword } : {}),
      socket: { connectTimeout: commandTimeoutMs },
    },
  });
  client.on('error', throttledWarning(logger));
  client.on('topology-change', (event: { type: string; node?: { host: string; port: number } }) => {
    // The one change an operator needs to see: the master the worker now writes its leases to.
    if (event.type === 'MASTER_CHANGE' && event.node) logger.info('redis master changed', { master: `${event.node.host}:${event.node.port}` });
  });
  let stopped = false;
  stopConnecting.set(client, () => {
    stopped = true;
  });
  // The library gives up a first connect after a number of rounds and never tries again, so a
  // worker started before its sentinels would stay without Redis: start over until it connects.
  const connectUntilReady = async (): Promise<void> => {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        await client.connect();
        logger.info('redis connected', { through: 'sentinel', master: sentinel.masterName });
        return;
      } catch (err) {
        if (stopped) return;
        logger.warn('redis sentinels give no master yet; trying again', { error: (err as Error).message });
        await client.destroy();
        await sleep(reconnectStrategy(attempt));
      }
    }
  };
  const connecting = connectUntilReady();
  try {
    await withDeadline(connecting, commandTimeoutMs, 'redis connect');
  } catch (err) {
    logger.warn('redis not reachable at startup; continuing and reconnecting', { error: (err as Error).message });
  }
  return client;
}

/** Reconnect attempts emit an error each; one line every 10 s is enough for an operator. */
function throttledWarning(logger: Logger): (err: unknown) => void {
  let lastLoggedAt = 0;
  return (err) => {
    const now = Date.now();
    if (now - lastLoggedAt > 10_000) {
      lastLoggedAt = now;
      logger.warn('redis error', { error: err instanceof Error ? err.message : String(err) });
    }
  };
}

/** Closes without waiting on a dead server: close when connected, otherwise drop the sockets. */
export async function closeRedis(client: RedisConnection, timeoutMs: number): Promise<void> {
  stopConnecting.get(client)?.();
  try {
    if (client.isReady) await withDeadline(client.close(), timeoutMs, 'redis close');
    else void client.destroy();
  } catch {
    if (client.isOpen) void client.destroy();
  }
}
