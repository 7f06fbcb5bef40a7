/**
 * crm-worker as a package: what a CRM application may import. Everything not exported here is
 * internal and may change without notice.
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { loadConfig, pgTransaction, startWorker } from 'crm-worker';
 *
 * // The worker: migrations, the delivery dispatcher, the cron jobs, /health, /metrics and /api.
 * const worker = await startWorker({ config: loadConfig(process.env) });
 *
 * // A message scheduled inside the application's own transaction: it exists if and only if
 * // the application's write commits, and the dispatcher sends it once, at its time.
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * const client = await pool.connect();
 * try {
 *   await client.query('BEGIN');
 *   await client.query('UPDATE deals SET stage = $1 WHERE id = $2', ['proposal', 42]);
 *   await worker.followUps.schedule(
 *     [{
 *       tenantId: 't1',
 *       channel: 'webhook',
 *       recipient: 'crm', // a WEBHOOK_TARGETS name
 *       scheduledAt: new Date(Date.now() + 24 * 3_600_000),
 *       template: 'Follow up on deal {{ dealId }}',
 *       variables: { dealId: 42 },
 *       idempotencyKey: 'deal-42-proposal-followup',
 *     }],
 *     pgTransaction(client),
 *   );
 *   await client.query('COMMIT');
 * } catch (err) {
 *   await client.query('ROLLBACK');
 *   throw err;
 * } finally {
 *   client.release();
 * }
 *
 * await worker.stop();
 * ```
 *
 * An application that runs the worker as its own process (the container) schedules through
 * `createFollowUpService(pool)` over its own pool instead, with the same transactions.
 */
import { loadConfig, secretValuesOf, type Config } from './config/config';
import type { Database, Queryable, QueryResult } from './db/database';
import { assertSchemaName, DEFAULT_SCHEMA } from './db/schema';
import { FollowUpService } from './delivery/followup-service';
import { createTemplateEngine } from './templates/template-engine';
import { installProcessHandlers } from './lifecycle/process-handlers';
import { createLogger } from './logging/logger';
import { startWorker as startComposedWorker } from './worker';

export { ConfigError, loadConfig, type Config, type ConfigProblem, type DeliveryConfig } from './config/config';
export { DatabaseBusyError, type Queryable, type QueryResult } from './db/database';
export type { FollowUpService, MessageView } from './delivery/followup-service';
export { IdempotencyKeyConflictError } from './delivery/key-conflict-error';
export { MESSAGE_STATUSES, type ChannelName, type MessageStatus, type ScheduleRequest, type ScheduleResult } from './delivery/outbox';
export { ValidationError, type FieldIssue } from './delivery/validation-error';

export interface StartWorkerOptions {
  /** The worker's settings; by default read from process.env (throws ConfigError naming every problem). */
  config?: Config;
  /**
   * Stop gracefully on SIGTERM/SIGINT and exit on an uncaught error, as the `crm-worker` process
   * does. Off by default: an application that embeds the worker owns its process and its signals.
   */
  handleSignals?: boolean;
}

/** A worker running inside the application's process. */
export interface Worker {
  readonly config: Config;
  /** The HTTP port it listens on (PORT=0 picks a free one). */
  readonly port: number;
  /** Schedules, cancels and inspects messages in the worker's database (its API connection pool). */
  readonly followUps: FollowUpService;
  /** Ordered, graceful stop: jobs drain, sends in flight finish, connections close. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the worker in this process, as `npm start` does: migrates the database, then runs the
 * cron jobs, the delivery dispatcher and the HTTP server until stop().
 */
export async function startWorker(options: StartWorkerOptions = {}): Promise<Worker> {
  const config = options.config ?? loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, instanceId: config.instanceId, secrets: secretValuesOf(config) });
  let running: Awaited<ReturnType<typeof startComposedWorker>> | undefined;
  if (options.handleSignals) {
    installProcessHandlers({
      logger,
      shutdown: async () => running?.stop(),
      releaseLocks: async () => running?.releaseLocks(),
      reportFatal: async (error) => {
        running?.errors.capture(error, { fatal: 'true' });
        await running?.errors.flush(1_500);
      },
    });
  }
  running = await startComposedWorker(config, { logger });
  const worker = running;
  return {
    config,
    port: worker.port,
    followUps: followUpServiceOver(worker.db, config),
    stop: () => worker.stop(),
  };
}

/** What pgTransaction needs of a pg Client or PoolClient (the application's own `pg`). */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** What createFollowUpService needs of a pg Pool. */
export interface PgPoolLike extends PgClientLike {
  connect(): Promise<PgPoolClientLike>;
}

/** A client the pool hands out; `on`/`off` are a pg PoolClient's, an EventEmitter's. */
export interface PgPoolClientLike extends PgClientLike {
  release(err?: Error | boolean): void;
  on?(event: 'error', listener: (err: Error) => void): unknown;
  off?(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * The application's open transaction (a pg client after BEGIN), as the `tx` argument of
 * FollowUpService.schedule/cancel/reschedule: the rows and the dispatcher's wake-up commit or
 * roll back with the application's own writes.
 *
 * crm-worker's statements name its tables unqualified, and the application's connection keeps
 * its own search_path (public, where a CRM's own `contacts` may live). So each statement runs
 * with the search_path set to crm-worker's schema alone and the application's put back right
 * after (three round trips instead of one). Should a statement fail, the transaction is aborted
 * anyway and its ROLLBACK restores the application's search_path too.
 */
export function pgTransaction(client: PgClientLike, options: { schema?: string } = {}): Queryable {
  const schema = assertSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const inSchema = async <T>(run: () => Promise<T>): Promise<T> => {
    const saved = await client.query(`SELECT current_setting('search_path') AS path`);
    await client.query(`SELECT set_config('search_path', $1, false)`, [schema]);
    let result: T;
    try {
      result = await run();
    } catch (err) {
      await client.query(`SELECT set_config('search_path', $1, false)`, [(saved.rows[0] as { path: string }).path]).catch(() => undefined);
      throw err;
    }
    await client.query(`SELECT set_config('search_path', $1, false)`, [(saved.rows[0] as { path: string }).path]);
    return result;
  };
  return {
    async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const result = await inSchema(() => client.query(text, params as unknown[] | undefined));
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    },
    async exec(script: string): Promise<void> {
      await inSchema(() => client.query(script));
    },
  };
}

/**
 * A FollowUpService over the application's own pg Pool, for an application whose worker runs
 * elsewhere (the worker must have migrated the database). Validation follows `config` as the
 * worker's API does: webhook recipients are WEBHOOK_TARGETS names or URLs, templates are checked
 * under TEMPLATE_* limits. The pool stays the application's: nothing here closes it.
 */
export function createFollowUpService(pool: PgPoolLike, config: Config = loadConfig(process.env)): FollowUpService {
  return followUpServiceOver(applicationDatabase(pool, config.database.schema), config);
}

function followUpServiceOver(db: Database, config: Config): FollowUpService {
  const webhook = config.delivery.webhook;
  return new FollowUpService(db, {
    webhookTargets: new Set(Object.keys(webhook.targets)),
    templates: createTemplateEngine(config.delivery.templateLimits),
    privateWebhookUrls: webhook.allowPrivate ? 'allow' : 'refuse',
  });
}

/** The part of the Database interface FollowUpService uses, served by the application's pool. */
function applicationDatabase(pool: PgPoolLike, schema: string): Database {
  // Outside a transaction every statement takes its own connection: it runs in one with the
  // search_path set, so that the setting cannot leak onto a connection the pool hands out later.
  const direct: Queryable = {
    query: (text, params) => database.transaction((tx) => tx.query(text, params)),
    exec: (script) => database.transaction((tx) => tx.exec(script)),
  };
  const database: Database = {
    kind: 'postgres',
    schema,
    query: direct.query,
    exec: direct.exec,
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      // pg emits 'error' on a checked-out client whose connection ends (a restart, a failover,
      // pg_terminate_backend), and pg-pool listens only while the client is idle: unheard, that
      // error would crash the application. Heard here, it fails this transaction only, and the
      // connection is destroyed on release. (A termination in the very TCP chunk that completes a
      // new connection is emitted before this line runs; only the pool's owner can listen for
      // that, with pool.on('connect', ...) as the worker does on its own pools.)
      const onLost = (err: Error) => {
        broken ??= err;
      };
      client.on?.('error', onLost);
      try {
        await client.query('BEGIN');
        const result = await fn(pgTransaction(client, { schema }));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw err;
      } finally {
        client.off?.('error', onLost);
        // A lost connection, or one that could not roll back, is destroyed, never handed to the next caller.
        client.release(broken);
      }
    },
    async warm() {},
    async listen() {
      throw new Error('createFollowUpService: LISTEN belongs to the worker, not to the application');
    },
    // The pool is the application's; it closes it.
    async close() {},
  };
  return database;
}
