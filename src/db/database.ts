/** Result of one statement, the subset of pg's QueryResult both adapters can give. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** Anything SQL can be sent to: the database itself or an open transaction. */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs a multi-statement script without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/** The handful of database operations crm-worker needs, served by PostgreSQL (pg) or PGlite. */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** BEGIN … COMMIT around fn on one connection; ROLLBACK when fn throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** LISTEN on a channel; the returned function stops listening. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
