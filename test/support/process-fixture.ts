import { createProbeTable } from './probe';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from './services';
import { killAll, spawnWorker, type WorkerProcess } from './worker-process';

/**
 * The usual setup of a process test: a fresh database, a private Redis key prefix, and every
 * spawned worker killed and everything removed at the end.
 */
export function useProcessFixture(options: { probeTable?: boolean } = {}) {
  const keys = createKeyPrefix();
  const workers: WorkerProcess[] = [];
  let db: TestDatabase | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    if (options.probeTable) await createProbeTable(db.url);
  });
  afterAll(async () => {
    await killAll(workers);
    await keys.removeKeys();
    await db?.drop();
  });

  return {
    keys,
    get db(): TestDatabase {
      if (!db) throw new Error('the fixture database exists only inside tests');
      return db;
    },
    /** DATABASE_URL, REDIS_URL and the key prefix (optionally narrowed to a sub-prefix). */
    serviceEnv(subPrefix = ''): Record<string, string> {
      return { DATABASE_URL: this.db.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: `${keys.prefix}${subPrefix}` };
    },
    spawn(...args: Parameters<typeof spawnWorker>): WorkerProcess {
      const worker = spawnWorker(...args);
      workers.push(worker);
      return worker;
    },
  };
}
