import { ConfigError, loadConfig, secretValuesOf, type Config } from './config/config';
import { installProcessHandlers } from './lifecycle/process-handlers';
import { createLogger } from './logging/logger';
import { createRedactor } from './logging/redact';
import { openErrorReporting } from './observability/error-reporting';
import type { RunningWorker, WorkerOptions } from './worker';

/**
 * The worker's process entry (`npm start`, supervisord's WORKER_ENTRY): parse config (exit 78 on
 * any problem), then load and start the worker, and install signal handlers.
 *
 * The worker (src/worker.ts, with every client library) is loaded only after the config is
 * valid: loading it takes seconds on a busy host, and supervisord counts a program that lives
 * past `startsecs` as started, so a worker with a bad setting that took that long to say so
 * would be restarted for ever instead of turning FATAL and stopping the container.
 */
export async function main(options: WorkerOptions = {}): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`config error: ${problem.variable}: ${problem.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  let worker: RunningWorker | undefined;
  const logger = options.logger ?? createLogger({ level: config.logLevel, instanceId: config.instanceId, secrets: secretValuesOf(config) });
  // Before the worker loads, so that an error during startup is reported too (SENTRY_DSN).
  const errors = await openErrorReporting({
    dsn: config.observability.sentryDsn,
    environment: config.observability.sentryEnvironment,
    instanceId: config.instanceId,
    redactValue: createRedactor(secretValuesOf(config)).value,
  });
  const reportFatal = async (error: unknown) => {
    errors.capture(error, { fatal: 'true' });
    await errors.flush(1_500);
  };
  installProcessHandlers({
    logger,
    shutdown: async () => worker?.stop(),
    releaseLocks: async () => worker?.releaseLocks(),
    reportFatal,
  });
  try {
    const { startWorker } = await import('./worker');
    worker = await startWorker(config, { ...options, logger, errors });
  } catch (err) {
    logger.error('startup failed', { error: (err as Error).stack ?? String(err) });
    await reportFatal(err);
    process.exit(1);
  }
}

if (require.main === module) void main();
