import type { Queryable } from './database';
import type { Logger } from '../logging/logger';
import type { Migration } from './migrate';

/** Names after CREATE TABLE / CREATE FUNCTION in a migration script (unqualified, as ours are). */
const CREATED = /\bCREATE\s+(?:OR\s+REPLACE\s+)?(TABLE|FUNCTION)\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)/gi;

/**
 * Installations from before DATABASE_SCHEMA kept their tables in `public`. When `public` holds
 * crm-worker's own migration history and `schema` holds none, every table and function that the
 * applied migrations created is moved into `schema` (ALTER ... SET SCHEMA: rows, indexes,
 * constraints, sequences and triggers go with the table; nothing is copied, so nothing is lost).
 * A CRM's own `public.tenants` is never touched: without crm-worker's history in `public` there
 * is nothing to move, and only objects crm-worker's migrations name are moved.
 */
export async function moveLegacyTables(tx: Queryable, schema: string, migrations: readonly Migration[], logger: Logger): Promise<void> {
  if (schema === 'public') return;
  const { rows } = await tx.query<{ legacy: boolean; current: boolean }>(
    `SELECT to_regclass('public.schema_migrations') IS NOT NULL AS legacy,
            to_regclass($1 || '.schema_migrations') IS NOT NULL AS current`,
    [schema],
  );
  if (!rows[0]?.legacy || rows[0].current) return;
  // Ours, not a CRM's table of the same name (Rails, Flyway-like tools use it too): crm-worker's
  // columns, and every row one of crm-worker's migrations. Checked before reading it, since a
  // failed statement would abort the whole migration transaction.
  const columns = await tx.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = 'schema_migrations' ORDER BY column_name`,
  );
  if (columns.rows.map((c) => c.column_name).join(',') !== 'applied_at,id,name') return;
  const history = await tx.query<{ id: number; name: string }>(`SELECT id, name FROM public.schema_migrations ORDER BY id`);
  const known = new Map(migrations.map((m) => [m.id, m.name]));
  const applied = history.rows.filter((r) => known.get(Number(r.id)) === r.name);
  if (applied.length === 0 || applied.length !== history.rows.length) return;

  const appliedIds = new Set(applied.map((r) => Number(r.id)));
  const tables: string[] = [];
  const functions: string[] = [];
  for (const migration of migrations.filter((m) => appliedIds.has(m.id))) {
    for (const [, kind, name] of migration.sql.matchAll(CREATED)) {
      (kind!.toUpperCase() === 'TABLE' ? tables : functions).push(name!.toLowerCase());
    }
  }
  const moved: string[] = [];
  for (const table of ['schema_migrations', ...new Set(tables)]) {
    const exists = await tx.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = $1`, [table]);
    if (exists.rowCount === 0) continue;
    await tx.query(`ALTER TABLE public.${table} SET SCHEMA ${schema}`);
    moved.push(table);
  }
  for (const fn of new Set(functions)) {
    const signatures = await tx.query<{ signature: string }>(
      `SELECT p.oid::regprocedure::text AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname = $1`,
      [fn],
    );
    for (const { signature } of signatures.rows) {
      await tx.query(`ALTER FUNCTION ${signature.startsWith('public.') ? signature : `public.${signature}`} SET SCHEMA ${schema}`);
      moved.push(`${fn}()`);
    }
  }
  logger.warn('moved crm-worker tables from schema public into its own schema', { schema, moved });
}
