import type { Config } from './config/config';
import type { Database } from './db/database';
import { migrate } from './db/migrate';
import type { Logger } from './logging/logger';
import { sleep } from './util/deadline';

/**
 * The database connections, one pool per kind of caller, so that none can starve another: 2,000
 * concurrent API requests once took every connection of a single shared pool, failed a dispatcher
 * tick and flapped /health. The API pool sheds with 503 when its acquire deadline passes; the
 * dispatcher, the scheduler (tick fences and the jobs' statements) and the health probe keep
 * their own. The embedded PGlite is one in-process database for all. Only the driver in use is
 * loaded: pg for DATABASE_URL, PGlite (and its WASM) for the embedded default.
 */
export async function openWorkerPools(config: Config, logger: Logger) {
  if (!config.database.url) {
    const { createPgliteDatabase } = await import('./db/pglite-database');
    const embedded = await createPgliteDatabase(config.database.pgliteDataDir, { schema: config.database.schema });
    return { api: embedded, dispatcher: embedded, jobs: embedded, health: embedded, distinct: new Map([['embedded', embedded]]) };
  }
  const url = config.database.url;
  const { createPgDatabase } = await import('./db/pg-database');
  const open = (poolName: string, poolMax: number, minIdle: number, acquireTimeoutMs?: number) =>
    createPgDatabase({
      url,
      schema: config.database.schema,
      poolName,
      poolMax,
      minIdle,
      acquireTimeoutMs,
      queryTimeoutMs: config.database.queryTimeoutMs,
      applicationName: `crm-worker ${config.instanceId}`.slice(0, 63),
      logger,
    });
  const api = open('api', config.database.poolMax, 2, config.database.apiAcquireTimeoutMs);
  const dispatcher = open('dispatcher', config.database.dispatcherPoolMax, 4, config.database.acquireTimeoutMs);
  const jobs = open('jobs', config.database.jobsPoolMax, 1, config.database.acquireTimeoutMs);
  const health = open('health', 1, 1, config.database.acquireTimeoutMs);
  return {
    api,
    dispatcher,
    jobs,
    health,
    distinct: new Map([
      ['api', api],
      ['dispatcher', dispatcher],
      ['jobs', jobs],
      ['health', health],
    ]),
  };
}

/** Workers often start before their database: retry for a while, then fail for the supervisor. */
export async function migrateWithRetry(db: Database, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(db, logger);
      return;
    } catch (err) {
      if (attempt >= 8) throw err;
      const waitMs = Math.min(250 * 2 ** attempt, 5_000);
      logger.warn('database not ready for migrations; retrying', { attempt, waitMs, error: (err as Error).message });
      await sleep(waitMs);
    }
  }
}

export type WorkerPools = Awaited<ReturnType<typeof openWorkerPools>>;
