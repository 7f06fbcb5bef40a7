import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { redisConfigured, secretValuesOf, type Config } from './config/config';
import type { Database } from './db/database';
import { migrateWithRetry, openWorkerPools, type WorkerPools } from './worker-pools';
import { FOLLOWUPS_BODY_LIMIT, FOLLOWUPS_PATH } from './delivery/api-routes';
import { HealthMonitor, type Probe } from './health/health-monitor';
import { databaseProbe, redisProbe } from './health/probes';
import { createHttpApp, type HttpDeps } from './http/app';
import { ShutdownSequence } from './lifecycle/shutdown';
import { createInProcessLeaseLocks } from './locks/in-process-lease-locks';
import { lockKey, type LeaseLocks } from './locks/lease';
import { createLogger, type Logger } from './logging/logger';
import { createRedactor } from './logging/redact';
import { openErrorReporting, type ErrorReporter } from './observability/error-reporting';
import { openTracing, type Tracing } from './observability/tracing';
import { createMetrics, type Metrics } from './metrics/metrics';
import { createTemplateEngine } from './templates/template-engine';
import type { ModuleContext, WorkerModule } from './modules/worker-module';
import type { RedisConnection } from './redis/redis-client';
import type { JobDefinition } from './scheduler/job';
import { recentRuns, runsPage } from './scheduler/job-runs';
import { Scheduler } from './scheduler/scheduler';
import { buildWorkerModules } from './worker-modules';

export interface WorkerOptions {
  /** Jobs beyond the built-in catalogue (test fixtures use this; production does not). */
  extraJobs?: (deps: { config: Config }) => JobDefinition[];
  logger?: Logger;
  /** Error tracking opened by the caller (main.ts opens it before the worker loads); else opened here from the config. */
  errors?: ErrorReporter;
}

export interface RunningWorker {
  readonly config: Config;
  readonly port: number;
  readonly scheduler: Scheduler;
  readonly locks: LeaseLocks;
  readonly db: Database;
  readonly logger: Logger;
  /** Where unhandled errors go (SENTRY_DSN), for the process handlers. */
  readonly errors: ErrorReporter;
  /** Ordered, graceful stop; idempotent. */
  stop(): Promise<void>;
  /** Best-effort release of every held lease (crash path). */
  releaseLocks(): Promise<void>;
}

/**
 * The composition root: every client is built here and passed down; nothing below reads the
 * environment or holds a module-level singleton. Four steps, each registering its own shutdown
 * step as it opens something, so the ordered shutdown (reverse order) closes what was opened last
 * first: open the database, open the locks, build the modules, serve HTTP; then the modules and
 * the scheduler start.
 */
export async function startWorker(config: Config, options: WorkerOptions = {}): Promise<RunningWorker> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, instanceId: config.instanceId, secrets: secretValuesOf(config) });
  const shutdown = new ShutdownSequence(logger);
  const startedAt = Date.now();
  let started = false;

  logger.info('crm-worker starting', {
    database: config.database.url ? 'postgres (DATABASE_URL)' : `embedded pglite in ${config.database.pgliteDataDir}`,
    locks: config.redis.sentinel ? 'redis (REDIS_SENTINELS)' : config.redis.url ? 'redis (REDIS_URL)' : 'in-process (no REDIS_URL: one process only)',
    redisKeyPrefix: config.redis.keyPrefix || undefined,
    qdrant: config.qdrant.url ? 'configured (QDRANT_URL)' : 'disabled',
    openai: config.openai.apiKey ? 'configured (OPENAI_API_KEY)' : 'disabled',
    api: config.http.apiKey ? 'enabled (API_KEY)' : 'disabled (no API_KEY)',
    jobsEnabled: config.scheduler.jobsEnabled,
  });

  const { tracing, errors } = await openObservability(config, options.errors, shutdown);
  const pools = await openDatabase(config, logger, shutdown);
  const { redis, locks } = await openLocks(config, logger, shutdown);
  const built = await buildModules({ config, logger, pools, redis, locks, tracing, errors, extraJobs: options.extraJobs }, shutdown);
  const lifecycle = { isStarted: () => started, isShuttingDown: () => shutdown.started };
  const { port } = await serveHttp({ config, logger, startedAt, db: pools.api, locks, lifecycle, ...built }, shutdown);
  await built.start();
  started = true;
  logger.info('crm-worker started', { instance: config.instanceId, pid: process.pid, port, jobs: built.jobs.map((j) => j.name) });

  const releaseLocks = () => releaseHeldLeases(locks);
  return { config, port, scheduler: built.scheduler, locks, db: pools.api, logger, errors, stop: () => shutdown.run(), releaseLocks };
}

/**
 * Step 0: traces (OTEL_EXPORTER_OTLP_ENDPOINT) and error tracking (SENTRY_DSN), each loaded only
 * when configured. Registered first, so the shutdown runs it last: the spans of the final ticks and
 * sends are exported. Both scrub with the logs' redaction and the configured secrets.
 */
async function openObservability(
  config: Config,
  given: ErrorReporter | undefined,
  shutdown: ShutdownSequence,
): Promise<{ tracing: Tracing; errors: ErrorReporter }> {
  const redactor = createRedactor(secretValuesOf(config));
  const { otlpEndpoint, serviceName, sentryDsn, sentryEnvironment } = config.observability;
  const errors =
    given ?? (await openErrorReporting({ dsn: sentryDsn, environment: sentryEnvironment, instanceId: config.instanceId, redactValue: redactor.value }));
  const tracing = await openTracing({ endpoint: otlpEndpoint, serviceName, instanceId: config.instanceId, redactText: redactor.text });
  // Nothing to flush when neither is configured: no step, so the shutdown log lists only real work.
  if (otlpEndpoint || sentryDsn || given) {
    shutdown.register('traces and error reports', async () => {
      await Promise.allSettled([tracing.shutdown(), errors.flush(2_000)]);
    });
  }
  return { tracing, errors };
}

/** Step 1: the pools (closed last), migrated and warmed. */
async function openDatabase(config: Config, logger: Logger, shutdown: ShutdownSequence): Promise<WorkerPools> {
  const pools = await openWorkerPools(config, logger);
  for (const [name, pool] of pools.distinct) shutdown.register(`database ${name}`, () => pool.close());
  // Migrations take the scheduler's pool: the API pool's short acquire deadline is for shedding
  // requests, not for a start-up step that may wait for a busy server.
  await migrateWithRetry(pools.jobs, logger);
  for (const [, pool] of pools.distinct) await pool.warm();
  return pools;
}

/** Step 2: Redis lease locks with REDIS_URL or REDIS_SENTINELS (the client closes after everything that uses it), else in-process ones. */
async function openLocks(config: Config, logger: Logger, shutdown: ShutdownSequence): Promise<{ redis: RedisConnection | undefined; locks: LeaseLocks }> {
  if (!redisConfigured(config.redis)) return { redis: undefined, locks: createInProcessLeaseLocks({ owner: config.instanceId, logger }) };
  // Loaded only with Redis configured: the redis client library is the costliest to load of all (~0.3 s here).
  const { closeRedis, connectRedis } = await import('./redis/redis-client');
  const { createRedisLeaseLocks } = await import('./locks/redis-lease-locks');
  const client = await connectRedis(config.redis, logger);
  shutdown.register('redis', () => closeRedis(client, 2_000));
  const locks = createRedisLeaseLocks({
    client,
    keyPrefix: config.redis.keyPrefix,
    owner: config.instanceId,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    logger,
  });
  return { redis: client, locks };
}

/**
 * Step 3: every module over the shared clients, the health monitor probing the dependencies
 * (stopped after the HTTP server closes) and the scheduler over the modules' jobs, built, not
 * started. start() registers the modules' stops and the scheduler's drain: registered after the
 * HTTP server's step, they run before it, while /health still answers.
 */
async function buildModules(
  deps: {
    config: Config;
    logger: Logger;
    pools: WorkerPools;
    redis: RedisConnection | undefined;
    locks: LeaseLocks;
    tracing: Tracing;
    errors: ErrorReporter;
    extraJobs: WorkerOptions['extraJobs'];
  },
  shutdown: ShutdownSequence,
) {
  const { config, logger, pools, redis, locks, tracing, errors } = deps;
  const metrics = createMetrics();
  const shutdownController = new AbortController();
  /** Aborted when shutdown begins, so that batch jobs stop at their next boundary (JobContext.stopping). */
  const stoppingController = new AbortController();
  const templates = createTemplateEngine(config.delivery.templateLimits);
  const context: ModuleContext = {
    config,
    db: pools.api,
    deliveryDb: pools.dispatcher,
    locks,
    metrics,
    logger,
    redis,
    shutdownSignal: shutdownController.signal,
    templates,
    tracing,
  };
  const modules = await buildWorkerModules(context);

  const probes: Probe[] = [databaseProbe(pools.health)];
  if (redis) probes.push(redisProbe(redis));
  for (const module of modules) probes.push(...(module.probes?.() ?? []));
  const fixedStatuses = {
    ...(redis ? {} : { redis: 'in-process' as const }),
    ...Object.assign({}, ...modules.map((m) => m.fixedStatuses?.() ?? {})),
  };
  const health = new HealthMonitor(probes, fixedStatuses, {
    timeoutMs: config.health.checkTimeoutMs,
    intervalMs: config.health.probeIntervalMs,
    logger,
    onResult: (dependency, up) => metrics.dependencyUp.set({ dependency }, up ? 1 : 0),
  });
  await health.start();
  shutdown.register('health monitor', async () => health.stop());

  const jobs = config.scheduler.jobsEnabled ? [...modules.flatMap((m) => m.jobs?.() ?? []), ...(deps.extraJobs?.({ config }) ?? [])] : [];
  const scheduler = new Scheduler(
    {
      db: pools.jobs,
      locks,
      metrics,
      logger,
      instanceId: config.instanceId,
      lockTtlMs: config.scheduler.lockTtlMs,
      shutdownSignal: shutdownController.signal,
      stoppingSignal: stoppingController.signal,
      tracing,
      errors,
    },
    jobs,
    config.scheduler.timezone,
    { lateToleranceMs: config.scheduler.lateToleranceMs },
  );

  async function start(): Promise<void> {
    // Modules stop after the scheduler has drained and before the clients close (shutdown runs in
    // reverse registration order).
    for (const module of modules) {
      if (module.stop) shutdown.register(`module ${module.name}`, () => module.stop!());
    }
    // Registered last, so it runs first: drain jobs while the clients they use are still open.
    shutdown.register(
      'scheduler',
      async () => {
        stoppingController.abort(new Error('worker stopping'));
        const drained = await scheduler.stop(config.scheduler.shutdownTimeoutMs);
        if (!drained) {
          logger.warn('jobs still running at SHUTDOWN_TIMEOUT_MS: aborting them', {
            timeoutMs: config.scheduler.shutdownTimeoutMs,
          });
          shutdownController.abort(new Error('shutdown timeout'));
          await scheduler.settle(2_000);
        }
        await releaseHeldLeases(locks);
      },
      config.scheduler.shutdownTimeoutMs + 5_000,
    );
    for (const module of modules) await module.start?.();
    await scheduler.start();
  }

  return { metrics, modules, health, scheduler, jobs, start };
}

/** Step 4: /health, /metrics and /api on the configured port (closed after the modules stop). */
async function serveHttp(
  deps: {
    config: Config;
    logger: Logger;
    startedAt: number;
    db: Database;
    locks: LeaseLocks;
    lifecycle: HttpDeps['lifecycle'];
    metrics: Metrics;
    modules: readonly WorkerModule[];
    health: HealthMonitor;
    scheduler: Scheduler;
  },
  shutdown: ShutdownSequence,
): Promise<{ port: number }> {
  const { config, logger, startedAt, db, locks, lifecycle, metrics, modules, health, scheduler } = deps;
  const app = createHttpApp({
    instanceId: config.instanceId,
    startedAt,
    modes: {
      database: db.kind === 'pglite' ? 'embedded-pglite' : 'postgres',
      locks: locks.kind,
    },
    health,
    scheduler,
    runsOf: (job, limit) => recentRuns(db, job, limit),
    runsPageOf: (job, page) => runsPage(db, job, page),
    lockKeyOf: (job) => lockKey(config.redis.keyPrefix, job),
    metrics,
    lifecycle,
    apiKey: config.http.apiKey,
    apiMaxInFlight: config.http.apiMaxInFlight,
    apiBodyLimits: { [`POST ${FOLLOWUPS_PATH}`]: FOLLOWUPS_BODY_LIMIT, [`POST /v1/messages`]: FOLLOWUPS_BODY_LIMIT },
    logger,
    apiRouters: modules.flatMap((m) => (m.apiRouter ? [m.apiRouter()] : [])),
    publicApiRouters: modules.flatMap((m) => (m.publicApiRouter ? [m.publicApiRouter()] : [])),
    apiSpecs: modules.flatMap((m) => m.apiSpec?.() ?? []),
    locks: () => locks.list(),
    dashboard: { ...config.http.dashboard, sources: Object.assign({}, ...modules.map((m) => m.dashboard?.() ?? {})) },
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: a burst of connections (2,000 at once) waits to be accepted and then
    // shed with 503, instead of overflowing the kernel's queue and being reset.
    server.listen({ port: config.http.port, host: config.http.bindAddress, backlog: 4096 }, () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  shutdown.register('http', async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  });
  logger.info('http listening', { port, address });
  return { port };
}

/** Best-effort: a lease that already expired or was taken over is not an error here. */
async function releaseHeldLeases(locks: LeaseLocks): Promise<void> {
  await Promise.allSettled(locks.held().map((lease) => lease.release()));
}
