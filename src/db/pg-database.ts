import { Pool, type PoolClient } from 'pg';
import type { Database, Queryable, QueryOptions, QueryResult } from './database';
import type { Logger } from '../logging/logger';

export interface PgDatabaseOptions {
  url: string;
  poolMax: number;
  /** Deadline of every statement, enforced by the server (statement_timeout). */
  queryTimeoutMs: number;
  applicationName: string;
  logger: Logger;
}

/** Connections kept open through quiet spells; warm() opens them at start-up. */
const MIN_IDLE_CONNECTIONS = 4;

/**
 * How much longer than the server's statement_timeout the client waits. The server's cancel must
 * reach the caller first: then an error means the statement was rolled back. A client that gave up
 * first would leave the statement running, and it could commit after its caller got an error.
 */
const CLIENT_DEADLINE_GRACE_MS = 2_000;

/** PostgreSQL through a pg Pool. A broken connection is discarded, never reused. */
export function createPgDatabase(options: PgDatabaseOptions): Database {
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolMax,
    // Connections idle past idleTimeoutMillis are closed down to this many, so a burst after a
    // quiet spell (a campaign due at 09:00) does not wait for new connections first. In the
    // delivery bench, opening them when the first messages came due delayed those by up to 150 ms.
    min: Math.min(MIN_IDLE_CONNECTIONS, options.poolMax),
    connectionTimeoutMillis: Math.min(options.queryTimeoutMs, 10_000),
    // Server-side deadline (lock waits included): the server cancels the statement and rolls it
    // back, so a deadline error means "not written" and the connection is free again at once.
    statement_timeout: options.queryTimeoutMs,
    // Client-side backstop, a little later: a hung server or a dead TCP peer fails the query
    // instead of hanging it (the outcome of a write is then unknown, as with any lost connection).
    query_timeout: options.queryTimeoutMs + CLIENT_DEADLINE_GRACE_MS,
    application_name: options.applicationName,
    keepAlive: true,
  });
  // Idle clients that lose their server emit here; without a listener that would crash the process.
  pool.on('error', (err) => options.logger.warn('postgres idle client error', { error: err.message }));

  const asQueryable = (client: Pool | PoolClient): Queryable => ({
    async query<R>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
      const values = params as unknown[] | undefined;
      const result = await (options?.name ? client.query({ name: options.name, text, values }) : client.query(text, values));
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    },
    async exec(script: string): Promise<void> {
      await client.query(script);
    },
  });
  const poolQueryable = asQueryable(pool);

  return {
    kind: 'postgres',
    query: poolQueryable.query,
    exec: poolQueryable.exec,
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(asQueryable(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async warm() {
      // Held together, so each is a connection of its own; released at once, they stay open.
      const clients = await Promise.allSettled(
        Array.from({ length: Math.min(MIN_IDLE_CONNECTIONS, options.poolMax) }, () => pool.connect()),
      );
      for (const c of clients) if (c.status === 'fulfilled') c.value.release();
    },
    async listen(channel, onNotify) {
      // LISTEN needs its own long-lived connection, outside the pool's rotation.
      const client = await pool.connect();
      const handler = (msg: { channel: string; payload?: string }) => {
        if (msg.channel === channel) onNotify(msg.payload ?? '');
      };
      client.on('notification', handler);
      client.on('error', () => undefined);
      try {
        await client.query(`LISTEN ${quoteIdent(channel)}`);
      } catch (err) {
        // A failed LISTEN must not keep its pool slot: a few of them would starve the pool.
        client.off('notification', handler);
        client.release(err as Error);
        throw err;
      }
      return async () => {
        client.off('notification', handler);
        try {
          await client.query(`UNLISTEN ${quoteIdent(channel)}`);
          client.release();
        } catch (err) {
          client.release(err as Error);
        }
      };
    },
    async close() {
      await pool.end();
    },
  };
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
