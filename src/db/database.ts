/**
 * No connection became free within the pool's acquire deadline: the database is busy, not broken.
 * The HTTP layer answers it with 503 + Retry-After (status/retryAfterSeconds), never 500.
 */
export class DatabaseBusyError extends Error {
  readonly status = 503;
  readonly retryAfterSeconds = 1;
  constructor(readonly pool: string) {
    super(`database busy: no ${pool} connection free in time; retry shortly`);
    this.name = 'DatabaseBusyError';
  }
}

/** Result of one statement, the subset of pg's QueryResult both adapters can give. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Prepare the statement once per connection under this name (PostgreSQL; PGlite ignores it).
   * For the dispatcher's hot statements, whose planning costs as much as running them.
   */
  name?: string;
}

/** Anything SQL can be sent to: the database itself or an open transaction. */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>>;
  /** Runs a multi-statement script without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/** The handful of database operations crm-worker needs, served by PostgreSQL (pg) or PGlite. */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** The schema its tables live in (DATABASE_SCHEMA); its connections' search_path. */
  readonly schema: string;
  /** BEGIN … COMMIT around fn on one connection; ROLLBACK when fn throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Opens the connections the pool keeps through quiet spells, so that the first busy moment (the
   * first due messages, a campaign at 09:00) does not wait for connections. Never throws.
   */
  warm(): Promise<void>;
  /** LISTEN on a channel; the returned function stops listening. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
