import type { Logger } from '../logging/logger';

export interface ProcessHandlerOptions {
  logger: Logger;
  /** Graceful stop; resolves when everything is closed. */
  shutdown: () => Promise<void>;
  /** Best-effort release of held locks before a crash exit. */
  releaseLocks: () => Promise<void>;
  /** Reports an uncaught error to error tracking and waits for it to be sent (bounded by the exit timer). */
  reportFatal?: (error: unknown) => Promise<void>;
}

/**
 * SIGTERM/SIGINT stop gracefully and exit 0; a second signal forces exit. An uncaught exception
 * or unhandled rejection leaves the process in an unknown state: log it, release locks where
 * possible so other replicas need not wait out the TTL, and exit non-zero for the supervisor.
 */
/** Signals this close together count as one (see onSignal). */
const REPEAT_WINDOW_MS = 1_000;

export function installProcessHandlers(options: ProcessHandlerOptions): void {
  const { logger } = options;
  /**
   * Every exit path releases held leases first (bounded), so other replicas need not wait out
   * LOCK_TTL_MS before the jobs run again. Best-effort: a lease that already expired is fine.
   */
  const releaseThenExit = (code: number, fatal?: { error: unknown }) => {
    const exit = () => process.exit(code);
    setTimeout(exit, 2_000).unref();
    const report = fatal && options.reportFatal ? options.reportFatal(fatal.error) : Promise.resolve();
    void Promise.allSettled([options.releaseLocks(), report]).then(exit);
  };
  let signalledAt: number | undefined;
  let firstSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // Under `npm start`, one Ctrl-C arrives twice: from the terminal (to the whole process group)
    // and forwarded by npm. The same signal again within REPEAT_WINDOW_MS is that keypress, not a request
    // to force the exit.
    if (signalledAt !== undefined && signal === firstSignal && performance.now() - signalledAt < REPEAT_WINDOW_MS) {
      logger.info('same signal again at once (forwarded by npm): ignored', { signal });
      return;
    }
    if (signalledAt !== undefined) {
      logger.warn('second signal: forcing exit', { signal });
      releaseThenExit(130);
      return;
    }
    signalledAt = performance.now();
    firstSignal = signal;
    logger.info('signal received: shutting down', { signal });
    options.shutdown().then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (err: Error) => {
        logger.error('shutdown failed', { error: err.message });
        releaseThenExit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const onFatal = (kind: string) => (err: unknown) => {
    logger.error(`${kind}: exiting`, { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    // Never wait long on a process that is already in trouble (releaseThenExit is bounded).
    releaseThenExit(1, { error: err });
  };
  process.on('uncaughtException', onFatal('uncaught exception'));
  process.on('unhandledRejection', onFatal('unhandled rejection'));
}
