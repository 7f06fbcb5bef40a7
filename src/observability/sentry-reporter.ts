import { defaultStackParser, linkedErrorsIntegration, makeNodeTransport, NodeClient, Scope, type ErrorEvent } from '@sentry/node-core';
import type { ErrorReporter, ErrorReportingOptions } from './error-reporting';

/**
 * Error tracking through the official Sentry SDK. A client and scope of its own, not Sentry.init:
 * init installs global handlers (uncaught exceptions would exit the process its own way, bypassing
 * the worker's lease release) and OpenTelemetry instrumentation of every http call. The worker's
 * process handlers call capture() themselves and flush before they exit.
 *
 * Every event goes through the logs' redaction before it is sent (beforeSend): e-mail addresses,
 * phone numbers, credentials and the configured secrets are masked exactly as in the logs.
 */
export function createSentryReporter(options: ErrorReportingOptions & { dsn: string }): ErrorReporter {
  const client = new NodeClient({
    dsn: options.dsn,
    environment: options.environment,
    serverName: options.instanceId,
    transport: makeNodeTransport,
    stackParser: defaultStackParser,
    integrations: [linkedErrorsIntegration()],
    sendDefaultPii: false,
    beforeSend: (event) => options.redactValue(event) as ErrorEvent,
  });
  client.init();
  const scope = new Scope();
  scope.setClient(client);
  scope.setTag('instance', options.instanceId);

  return {
    enabled: true,
    capture(error, tags = {}) {
      try {
        scope.clone().setTags(tags).captureException(error);
      } catch {
        // Error tracking must never become the error.
      }
    },
    async flush(timeoutMs) {
      await client.flush(timeoutMs).catch(() => false);
    },
  };
}
