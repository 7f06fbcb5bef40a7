/**
 * The PostgreSQL schema crm-worker keeps every table and function in, so that it can live in a
 * CRM's own database beside that CRM's `tenants`, `contacts` and `leads` (graphile-worker does the
 * same with `graphile_worker`). Every connection crm-worker opens sets its search_path to this
 * schema alone, so the SQL in the code stays unqualified and can never touch another schema.
 */
export const DEFAULT_SCHEMA = 'crm_worker';

/**
 * A schema name usable unquoted in SQL and in a search_path: lower case, digits, underscores,
 * at most 63 bytes (PostgreSQL's identifier limit), not a system schema.
 */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function schemaNameProblem(name: string): string | undefined {
  if (!SCHEMA_NAME.test(name)) return 'must be a lower-case SQL identifier (letters, digits, underscores; at most 63)';
  if (name.startsWith('pg_') || name === 'information_schema') return 'must not be a PostgreSQL system schema';
  return undefined;
}

export function assertSchemaName(name: string): string {
  const problem = schemaNameProblem(name);
  if (problem) throw new Error(`database schema "${name}" ${problem}`);
  return name;
}

/**
 * The libpq `options` startup parameter that sets the search_path on every new connection (no
 * extra round trip). Options already in the URL are kept, ours appended: a later -c wins.
 */
export function connectionOptions(url: string, schema: string): string {
  const existing = new URL(url).searchParams.get('options');
  const ours = `-c search_path=${assertSchemaName(schema)}`;
  return existing ? `${existing} ${ours}` : ours;
}

/** The URL with its `options` parameter removed (it is passed separately, merged). */
export function withoutOptions(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('options')) return url;
  parsed.searchParams.delete('options');
  return parsed.toString();
}

/** A quoted SQL identifier (a LISTEN channel, a schema): here, not in pg-database, so the embedded database needs no pg. */
export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
