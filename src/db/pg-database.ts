import { Pool, type PoolClient } from 'pg';
import { DatabaseBusyError, type Database, type Queryable, type QueryOptions, type QueryResult } from './database';
import type { Logger } from '../logging/logger';
import { connectionOptions, DEFAULT_SCHEMA, quoteIdent, withoutOptions } from './schema';
import { databaseTargetOf } from './database-hosts';
import { primaryClientClass } from './primary-client';

export interface PgDatabaseOptions {
  url: string;
  poolMax: number;
  /** Deadline of every statement, enforced by the server (statement_timeout). */
  queryTimeoutMs: number;
  applicationName: string;
  logger: Logger;
  /** Names the pool in logs and errors (api, dispatcher, jobs, health). */
  poolName?: string;
  /** Connections kept open through quiet spells (default 4, at most poolMax). */
  minIdle?: number;
  /** How long a caller waits for a free connection (default: min(queryTimeoutMs, 10 s)). */
  acquireTimeoutMs?: number;
  /** DATABASE_SCHEMA: every connection's search_path (default crm_worker). */
  schema?: string;
}

/** Connections kept open through quiet spells by default; warm() opens them at start-up. */
const MIN_IDLE_CONNECTIONS = 4;

/**
 * pg-pool's messages when connectionTimeoutMillis passes: no client became free, or a new
 * connection was not set up in time (under load the event loop itself is slow to finish it).
 */
const ACQUIRE_TIMEOUT_MESSAGES = new Set(['timeout exceeded when trying to connect', 'Connection terminated due to connection timeout']);

/**
 * How much longer than the server's statement_timeout the client waits. The server's cancel must
 * reach the caller first: then an error means the statement was rolled back. A client that gave up
 * first would leave the statement running, and it could commit after its caller got an error.
 */
const CLIENT_DEADLINE_GRACE_MS = 2_000;

/** PostgreSQL through a pg Pool. A broken connection is discarded, never reused. */
export function createPgDatabase(options: PgDatabaseOptions): Database {
  const poolName = options.poolName ?? 'main';
  const minIdle = Math.min(options.minIdle ?? MIN_IDLE_CONNECTIONS, options.poolMax);
  const busy = (err: unknown): unknown => (err instanceof Error && ACQUIRE_TIMEOUT_MESSAGES.has(err.message) ? new DatabaseBusyError(poolName) : err);
  const schema = options.schema ?? DEFAULT_SCHEMA;
  // Several hosts or target_session_attrs: pg reads neither, so its URL names the first host and
  // the pool's Client class chooses the host (primary-client.ts). One host: pg as it is.
  const target = databaseTargetOf(options.url);
  const acquireTimeoutMs = options.acquireTimeoutMs ?? Math.min(options.queryTimeoutMs, 10_000);
  const chooseHost = target.hosts.length > 1 || target.readWrite;
  const pool = new Pool({
    ...(chooseHost ? { Client: primaryClientClass(target, { logger: options.logger, connectTimeoutMs: acquireTimeoutMs }) } : {}),
    // pg lets the URL's parameters override the config's: `options` is taken out and merged.
    connectionString: withoutOptions(chooseHost ? target.url : options.url),
    options: connectionOptions(target.url, schema),
    max: options.poolMax,
    // Connections idle past idleTimeoutMillis are closed down to this many, so a burst after a
    // quiet spell (a campaign due at 09:00) does not wait for new connections first. In the
    // delivery bench, opening them when the first messages came due delayed those by up to 150 ms.
    min: minIdle,
    connectionTimeoutMillis: acquireTimeoutMs,
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
  pool.on('error', (err) => options.logger.warn('postgres idle client error', { pool: poolName, error: err.message }));
  // And every connection listens for its whole life. pg-pool takes its own listener off a
  // connection it hands out, and the holder's (transaction, LISTEN) comes only when `await
  // pool.connect()` resumes. pg reads the server's messages a TCP chunk at a time: a termination
  // that arrives in the same chunk as a new connection's ReadyForQuery (a restart, a failover,
  // pg_terminate_backend at that moment) is emitted before that, on a connection no one listens
  // to, and that would crash the process. The pool's and the holder's listeners still decide what
  // becomes of the connection (it is discarded); this one only keeps the error from being fatal.
  pool.on('connect', (client) => client.on('error', (err) => options.logger.debug('postgres connection lost', { pool: poolName, error: err.message })));

  const asQueryable = (client: Pool | PoolClient): Queryable => ({
    async query<R>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
      const values = params as unknown[] | undefined;
      try {
        const result = await (options?.name ? client.query({ name: options.name, text, values }) : client.query(text, values));
        return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
      } catch (err) {
        throw busy(err);
      }
    },
    async exec(script: string): Promise<void> {
      await client.query(script);
    },
  });
  const poolQueryable = asQueryable(pool);

  return {
    kind: 'postgres',
    schema,
    query: poolQueryable.query,
    exec: poolQueryable.exec,
    async transaction(fn) {
      const client = await pool.connect().catch((err: unknown) => Promise.reject(busy(err)));
      // pg emits 'error' on a checked-out client whose connection dies between queries (server
      // restart, failover, pg_terminate_backend while a send is in flight). The pool only listens
      // while the client is idle, so without this listener the process would crash; with it the
      // loss is an error of this transaction only: its next statement (or COMMIT) fails.
      let broken: Error | undefined;
      const onLost = (err: Error) => {
        broken ??= err;
        options.logger.warn('postgres connection lost inside a transaction', { error: err.message });
      };
      client.on('error', onLost);
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
        client.off('error', onLost);
        // A lost connection is destroyed, never handed to the next caller.
        client.release(broken);
      }
    },
    async warm() {
      // Held together, so each is a connection of its own; released at once, they stay open.
      const clients = await Promise.allSettled(Array.from({ length: minIdle }, () => pool.connect()));
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
