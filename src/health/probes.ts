import type { Database } from '../db/database';
import type { RedisClient } from '../redis/redis-client';
import type { Probe } from './health-monitor';

export function databaseProbe(db: Database): Probe {
  return {
    service: 'database',
    required: true,
    okStatus: 'connected',
    failStatus: 'disconnected',
    async check() {
      await db.query('SELECT 1');
    },
  };
}

export function redisProbe(client: RedisClient): Probe {
  return {
    service: 'redis',
    required: true,
    okStatus: 'connected',
    failStatus: 'disconnected',
    async check() {
      // With the offline queue disabled, PING fails at once while the client reconnects.
      await client.ping();
    },
  };
}

/** Qdrant is optional: its state is reported but never turns /health into 503. */
export function qdrantProbe(baseUrl: string): Probe {
  return {
    service: 'qdrant',
    required: false,
    okStatus: 'healthy',
    failStatus: 'unhealthy',
    async check() {
      const response = await fetch(new URL('/readyz', baseUrl));
      if (!response.ok) throw new Error(`qdrant /readyz answered ${response.status}`);
      await response.arrayBuffer();
    },
  };
}
