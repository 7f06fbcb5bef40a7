import fs from 'node:fs';
import { createClient } from '@redis/client';
import type { Database } from '../../src/db/database';
import { migrate } from '../../src/db/migrate';
import { createPgDatabase } from '../../src/db/pg-database';
import { createPgliteDatabase } from '../../src/db/pglite-database';
import { createRedisLeaseLocks } from '../../src/locks/redis-lease-locks';
import type { LeaseLocks } from '../../src/locks/lease';
import { createLogger, type Logger } from '../../src/logging/logger';
import { createMetrics, type Metrics } from '../../src/metrics/metrics';
import type { RedisClient } from '../../src/redis/redis-client';
import type { TickDeps } from '../../src/scheduler/run-tick';
import { createInProcessLeaseLocks } from '../../src/locks/in-process-lease-locks';
import { freshPgliteDir } from './pglite-template';
import { createTestDatabase } from './services';

export const quietLogger: Logger = createLogger({ level: 'error', instanceId: 'test', silent: true });

/** A migrated database: a fresh PostgreSQL database, or an embedded PGlite in a temp folder. */
export async function openMigratedDatabase(kind: 'postgres' | 'pglite', target: string): Promise<Database> {
  const db =
    kind === 'postgres'
      ? createPgDatabase({ url: target, poolMax: 5, queryTimeoutMs: 10_000, applicationName: 'crm-worker test', logger: quietLogger })
      : await createPgliteDatabase(target);
  await migrate(db, quietLogger);
  return db;
}

/** A migrated scratch database of either kind for one test file; close() removes every trace. */
export interface ScratchDatabase {
  readonly db: Database;
  /** The PostgreSQL URL (undefined for PGlite). */
  readonly url: string | undefined;
  close(): Promise<void>;
}

export async function openScratchDatabase(kind: 'postgres' | 'pglite'): Promise<ScratchDatabase> {
  if (kind === 'postgres') {
    const testDb = await createTestDatabase();
    const db = await openMigratedDatabase('postgres', testDb.url);
    return {
      db,
      url: testDb.url,
      async close() {
        await db.close();
        await testDb.drop();
      },
    };
  }
  const dataDir = freshPgliteDir();
  const db = await openMigratedDatabase('pglite', dataDir);
  return {
    db,
    url: undefined,
    async close() {
      await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** What runTick needs for a job called directly in one process: in-process locks, quiet logs. */
export function inProcessTickDeps(db: Database, instanceId = 'test'): TickDeps {
  return {
    db,
    locks: createInProcessLeaseLocks({ owner: instanceId, logger: quietLogger }),
    metrics: createMetrics(),
    logger: quietLogger,
    instanceId,
    lockTtlMs: 10_000,
    shutdownSignal: new AbortController().signal,
  };
}

export async function connectTestRedis(url: string): Promise<RedisClient> {
  const client = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: 100, connectTimeout: 2_000 } });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** One simulated replica: its own instance id, locks, metrics and shutdown signal. */
export function replica(
  name: string,
  db: Database,
  redis: RedisClient,
  keyPrefix: string,
  options: { lockTtlMs?: number; commandTimeoutMs?: number } = {},
): TickDeps & { locks: LeaseLocks; metrics: Metrics; shutdown: AbortController } {
  const shutdown = new AbortController();
  return {
    db,
    locks: createRedisLeaseLocks({
      client: redis,
      keyPrefix,
      owner: name,
      commandTimeoutMs: options.commandTimeoutMs ?? 2_000,
      logger: quietLogger,
    }),
    metrics: createMetrics(),
    logger: quietLogger,
    instanceId: name,
    lockTtlMs: options.lockTtlMs ?? 10_000,
    shutdownSignal: shutdown.signal,
    shutdown,
  };
}
