/**
 * Error tracking: unhandled errors and failed ticks. The interface is all the scheduler and the
 * process handlers know; Sentry (sentry-reporter.ts) is loaded only when SENTRY_DSN is set.
 */
export interface ErrorReporter {
  readonly enabled: boolean;
  /** Reports an error with a few tags (job, run id: never personal data). Never throws. */
  capture(error: unknown, tags?: Record<string, string>): void;
  /** Waits up to timeoutMs for reports still being sent: before a crash exit, and at shutdown. */
  flush(timeoutMs: number): Promise<void>;
}

export const noErrorReporting: ErrorReporter = {
  enabled: false,
  capture: () => undefined,
  flush: async () => undefined,
};

export interface ErrorReportingOptions {
  /** SENTRY_DSN; undefined = no error tracking. */
  dsn: string | undefined;
  environment: string | undefined;
  instanceId: string;
  /** The logs' redaction (src/logging/redact.ts createRedactor): every event goes through it before it leaves. */
  redactValue: (value: unknown) => unknown;
}

/** Sentry when a DSN is configured (loaded on demand), else reports that go nowhere. */
export async function openErrorReporting(options: ErrorReportingOptions): Promise<ErrorReporter> {
  if (!options.dsn) return noErrorReporting;
  const { createSentryReporter } = await import('./sentry-reporter');
  return createSentryReporter({ ...options, dsn: options.dsn });
}
