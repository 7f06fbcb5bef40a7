import fs from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult } from './database';
import { lockDataDir } from './data-dir-lock';
import { assertSchemaName, DEFAULT_SCHEMA, quoteIdent } from './schema';

/**
 * The embedded server's memory, set here rather than left to PostgreSQL's defaults: PGlite keeps
 * whatever its WASM heap once grew to, and with PostgreSQL's default 128 MB of shared buffers an
 * embedded worker opened on its folder again sat near 410 MiB resident at rest, about 250 with
 * these (bench/results/memory.md). A newcomer's outbox and CRM tables fit in far less; PostgreSQL
 * (DATABASE_URL) is the way to more. The first start on an empty folder runs initdb in a second
 * WASM instance that is garbage once done; until V8 collects it that start stays higher.
 */
const EMBEDDED_MEMORY_SETTINGS = ['shared_buffers = 16MB', 'work_mem = 2MB', 'maintenance_work_mem = 16MB', 'temp_buffers = 2MB', 'wal_buffers = 1MB'];

/**
 * The embedded default: PostgreSQL compiled to WASM, persisted in a local folder, so the worker
 * runs on a fresh machine with nothing installed. One process only; the same SQL as PostgreSQL.
 */
export async function createPgliteDatabase(dataDir: string, options: { schema?: string } = {}): Promise<Database> {
  const schema = assertSchemaName(options.schema ?? DEFAULT_SCHEMA);
  fs.mkdirSync(dataDir, { recursive: true });
  // Before opening: a second process on the same folder refuses with a clear message.
  const unlock = lockDataDir(dataDir);
  let db: PGlite;
  try {
    db = await PGlite.create(dataDir, { postgresqlconf: EMBEDDED_MEMORY_SETTINGS });
  } catch (err) {
    unlock();
    throw err;
  }
  // One connection for the process: its session search_path is every statement's.
  await db.exec(`SET search_path TO ${schema}`).catch(async (err: unknown) => {
    await db.close().catch(() => undefined);
    unlock();
    throw err;
  });

  const asQueryable = (target: PGlite | Transaction): Queryable => ({
    async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const result = await target.query<R>(text, params as unknown[] | undefined);
      // pg counts the rows a SELECT returns; PGlite reports affectedRows 0 for it. Rows returned
      // and rows affected agree whenever both are set (UPDATE ... RETURNING), so take the larger.
      return { rows: result.rows, rowCount: Math.max(result.rows.length, result.affectedRows ?? 0) };
    },
    async exec(script: string): Promise<void> {
      await target.exec(script);
    },
  });
  const main = asQueryable(db);

  return {
    kind: 'pglite',
    schema,
    query: main.query,
    exec: main.exec,
    transaction(fn) {
      return db.transaction((tx) => fn(asQueryable(tx)));
    },
    // One in-process database, nothing to connect.
    async warm() {},
    async listen(channel, onNotify) {
      const unsubscribe = await db.listen(quoteIdent(channel), onNotify);
      return async () => unsubscribe();
    },
    async close() {
      try {
        await db.close();
      } finally {
        unlock();
      }
    },
  };
}
