#!/usr/bin/env node
import os from 'node:os';
import { parseArgs } from 'node:util';
import { redisConfigured, type Config } from '../config/config';
import type { Database } from '../db/database';
import { createRedisLeaseLocks } from '../locks/redis-lease-locks';
import type { Logger } from '../logging/logger';
import type { RedisConnection } from '../redis/redis-client';
import { CliError, cliConfig, cliLogger, processIo, type CliIo } from './cli-io';
import { listDead, redriveDead } from './dead-commands';
import { printHealth } from './health-command';
import { listLocks, unlock } from './lock-commands';

const USAGE = `crm-worker — operator commands (configuration from the worker's environment variables)

  crm-worker locks                         list lock:* keys with owner and TTL (REDIS_URL)
  crm-worker unlock <job> [--owner <instance> | --force --reason "<why>"]
                                           clear a stuck lock (compare-and-set; see docs/container.md)
  crm-worker run <job> [--fire-time <ISO>] run one tick now under lock:<job> and the job_runs fence
                                           (REDIS_URL and DATABASE_URL)
  crm-worker health [--url <base URL>]     summary of a running worker's /health
                                           (default http://127.0.0.1:$PORT)
  crm-worker dead list [--limit N] [--tenant <id>]
  crm-worker dead redrive <id> [--reason "<why>"]
                                           dead messages of the delivery outbox (DATABASE_URL)

Exit codes: 0 ok, 1 failed, 2 usage, 3 refused or not run (lock held), 78 bad configuration.`;

interface Resources {
  config: Config;
  logger: Logger;
  db?: Database;
  redis?: RedisConnection;
}

/** Runs one CLI command; returns the exit code. Exported for tests, which run it in-process too. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo = processIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        owner: { type: 'string' },
        force: { type: 'boolean', default: false },
        reason: { type: 'string' },
        'fire-time': { type: 'string' },
        url: { type: 'string' },
        limit: { type: 'string' },
        tenant: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (command ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }

  const instanceId = `cli-${os.hostname()}-${process.pid}`;
  const res: Partial<Resources> = {};
  try {
    const config = (res.config = cliConfig(env, instanceId));
    const logger = (res.logger = cliLogger(config));
    const needRedis = async () => {
      if (!redisConfigured(config.redis)) {
        throw new CliError(`${command}: REDIS_URL (or REDIS_SENTINELS) is not set (without it, locks live inside the one worker process)`, 2);
      }
      // Each client library is loaded by the command that needs it: an operator's `unlock` at 3 a.m.
      // should not wait for the worker's job modules, templates and metrics to load.
      const { connectRedis } = await import('../redis/redis-client');
      res.redis ??= await connectRedis(config.redis, logger);
      if (!res.redis.isReady) throw new CliError(`${command}: Redis at ${config.redis.sentinel ? 'REDIS_SENTINELS' : 'REDIS_URL'} does not answer`, 1);
      return res.redis;
    };
    const needDatabase = async () => {
      if (!config.database.url) {
        throw new CliError(`${command}: DATABASE_URL is not set (the embedded PGlite database belongs to the running worker)`, 2);
      }
      const { createPgDatabase } = await import('../db/pg-database');
      res.db ??= createPgDatabase({
        url: config.database.url,
        schema: config.database.schema,
        poolMax: 2,
        queryTimeoutMs: config.database.queryTimeoutMs,
        applicationName: `crm-worker cli`,
        logger,
      });
      return res.db;
    };
    const locksOf = (redis: RedisConnection) =>
      createRedisLeaseLocks({ client: redis, keyPrefix: config.redis.keyPrefix, owner: instanceId, commandTimeoutMs: config.redis.commandTimeoutMs, logger });
    const arg = (index: number, name: string) => {
      const value = rest[index];
      if (!value) throw new CliError(`${command}: missing <${name}>\n\n${USAGE}`, 2);
      return value;
    };

    switch (command) {
      case 'locks':
        return await listLocks(locksOf(await needRedis()), io);
      case 'unlock': {
        const job = arg(0, 'job');
        const redis = await needRedis();
        return await unlock({ config, redis, locks: locksOf(redis), logger }, job, { owner: values.owner, force: values.force, reason: values.reason }, io);
      }
      case 'run': {
        const job = arg(0, 'job');
        const fireTime = values['fire-time'] ? new Date(values['fire-time']) : new Date();
        if (Number.isNaN(fireTime.getTime())) throw new CliError(`run: --fire-time must be an ISO date-time, got "${values['fire-time']}"`, 2);
        const redis = await needRedis();
        const db = await needDatabase();
        const [{ migrate }, { createTemplateEngine }, { createMetrics }, { runJobOnce }] = await Promise.all([
          import('../db/migrate'),
          import('../templates/template-engine'),
          import('../metrics/metrics'),
          import('./run-command'),
        ]);
        await migrate(db, logger);
        const shutdown = new AbortController();
        process.once('SIGINT', () => shutdown.abort(new Error('interrupted')));
        process.once('SIGTERM', () => shutdown.abort(new Error('terminated')));
        const templates = createTemplateEngine(config.delivery.templateLimits);
        const ctx = { config, db, locks: locksOf(redis), metrics: createMetrics(), logger, redis, shutdownSignal: shutdown.signal, templates, deliveryDb: db };
        return await runJobOnce(ctx, job, fireTime, io);
      }
      case 'health':
        return await printHealth(values.url ?? `http://127.0.0.1:${config.http.port}`, io, config.http.apiKey);
      case 'dead': {
        const sub = arg(0, 'list|redrive');
        const db = await needDatabase();
        if (sub === 'list') {
          const limit = values.limit === undefined ? 50 : Number(values.limit);
          if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
            throw new CliError(`dead list: --limit must be a whole number 1-10000, got "${values.limit}"`, 2);
          return await listDead(db, { limit, ...(values.tenant ? { tenant: values.tenant } : {}) }, io);
        }
        if (sub === 'redrive') return await redriveDead(db, arg(1, 'id'), `${os.userInfo().username}@${os.hostname()}`, values.reason, io);
        throw new CliError(`dead: unknown subcommand "${sub}" (list or redrive)`, 2);
      }
      default:
        throw new CliError(`unknown command "${command}"\n\n${USAGE}`, 2);
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.err(err.message);
      return err.exitCode;
    }
    io.err(`error: ${(err as Error).message}`);
    return 1;
  } finally {
    if (res.redis) await (await import('../redis/redis-client')).closeRedis(res.redis, 2_000);
    if (res.db) await res.db.close().catch(() => undefined);
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
