import fs from 'node:fs';
import path from 'node:path';
import type { Database } from './database';
import type { Logger } from '../logging/logger';
import { moveLegacyTables } from './legacy-schema';
import { assertSchemaName } from './schema';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');
const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/**
 * Reads NNNN_name.sql files in order. Numbers may leave gaps (each module owns a range:
 * 0001-0009 core and delivery, 0010-0019 knowledge, 0020-0029 calls, 0030-0049 CRM jobs);
 * a duplicate number is a packaging error.
 */
export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((file) => {
      const match = FILE_NAME.exec(file);
      if (!match) throw new Error(`migration file ${file} is not named NNNN_name.sql`);
      return { id: Number(match[1]), name: match[2]!, sql: fs.readFileSync(path.join(dir, file), 'utf8') };
    })
    .sort((a, b) => a.id - b.id);
  migrations.forEach((m, i) => {
    const previous = migrations[i - 1];
    if (previous && previous.id === m.id) throw new Error(`two migrations are numbered ${m.id}: ${previous.name} and ${m.name}`);
  });
  return migrations;
}

/**
 * Applies pending migrations in one transaction under an advisory lock, so workers starting
 * together neither race nor see half a schema: the second waits, then finds nothing to do.
 */
export async function migrate(db: Database, logger: Logger, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = readMigrations(dir);
  const schema = assertSchemaName(db.schema);
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('crm-worker:migrate'))`);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    // The connection's search_path names the schema already; said again so that a migration can
    // never create anything elsewhere, whatever the connection was opened with.
    await tx.query(`SELECT set_config('search_path', $1, true)`, [schema]);
    await moveLegacyTables(tx, schema, migrations, logger);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const applied = new Set((await tx.query<{ id: number }>('SELECT id FROM schema_migrations')).rows.map((r) => Number(r.id)));
    const newlyApplied: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      // Each file may hold several statements; pg and PGlite both take a script without params.
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [migration.id, migration.name]);
      newlyApplied.push(migration.id);
      logger.info('migration applied', { migration: `${String(migration.id).padStart(4, '0')}_${migration.name}` });
    }
    return newlyApplied;
  });
}
