import { createClient } from 'redis';
import type { Logger } from '../logging/logger';
import { withDeadline } from '../util/deadline';

export type RedisClient = ReturnType<typeof createClient>;

/**
 * A node-redis client that never queues commands while disconnected (they fail at once, so a
 * tick is skipped instead of hanging) and reconnects forever with capped backoff.
 */
export async function connectRedis(url: string, logger: Logger, connectTimeoutMs: number): Promise<RedisClient> {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: connectTimeoutMs,
      reconnectStrategy: (retries) => Math.min(100 * 2 ** Math.min(retries, 6), 5_000),
    },
  });
  let lastLoggedAt = 0;
  client.on('error', (err: Error) => {
    // Reconnect attempts emit an error each; one line every 10 s is enough for an operator.
    const now = Date.now();
    if (now - lastLoggedAt > 10_000) {
      lastLoggedAt = now;
      logger.warn('redis error', { error: err.message });
    }
  });
  client.on('ready', () => logger.info('redis connected'));
  try {
    await withDeadline(client.connect(), connectTimeoutMs, 'redis connect');
  } catch (err) {
    // Start anyway: /health reports Redis down, ticks are skipped until it answers, and the
    // client keeps reconnecting in the background.
    logger.warn('redis not reachable at startup; continuing and reconnecting', { error: (err as Error).message });
  }
  return client;
}

/** Closes without waiting on a dead server: quit when connected, otherwise drop the socket. */
export async function closeRedis(client: RedisClient, timeoutMs: number): Promise<void> {
  try {
    if (client.isReady) await withDeadline(client.quit(), timeoutMs, 'redis quit');
    else client.destroy();
  } catch {
    if (client.isOpen) client.destroy();
  }
}
