import { createProbeTable, withClient } from './probe';
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
    /** Runs one statement against the fixture database and returns its rows. */
    sql<R extends Record<string, unknown> = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
      return withClient(this.db.url, async (c) => (await c.query<R>(text, params)).rows);
    },
    spawn(...args: Parameters<typeof spawnWorker>): WorkerProcess {
      const worker = spawnWorker(...args);
      workers.push(worker);
      return worker;
    },
  };
}

/**
 * A JSON client for a worker's /api with its API key: `api('POST', '/followups', body)` gives the
 * status and the parsed body. The worker is looked up on each call, so it may be spawned later.
 */
export function apiClient(worker: () => WorkerProcess, apiKey: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`http://127.0.0.1:${worker().port()}/api${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
}
