import { Counter } from 'prom-client';
import type { ModuleFactory } from '../modules/worker-module';
import { createCallCleanupJob } from './call-cleanup-job';
import { createCallSchedulerJob } from './call-scheduler-job';
import { Router } from 'express';
import { DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS } from '../http/app';
import { problemErrorHandler } from '../http/problem';
import { callApiSpec } from './call-api-spec';
import { callsRoutes } from './calls-routes';
import { v1CallRoutes } from './v1-call-routes';
import { createTelephonyWebhook } from './telephony-webhook';

/**
 * The call queue: the call-scheduler job (only with TELEPHONY_WEBHOOK_URL: without a way to
 * place calls it is not registered, rather than reporting runs that did nothing), call-cleanup
 * (always: finished calls pile up whether or not calls are placed now) and /api/calls.
 * Calls may be queued either way; they wait until a webhook is configured.
 */
export const callsModule: ModuleFactory = ({ config, db, metrics, logger }) => {
  const settings = config.calls;
  const url = settings.telephonyWebhookUrl;
  if (!url) logger.info('call-scheduler disabled: TELEPHONY_WEBHOOK_URL is not set; queued calls wait');
  const callsPlaced = new Counter({
    name: 'crm_worker_calls_placed_total',
    help: 'Call attempts handed to the telephony webhook, by result (accepted, rejected, error).',
    labelNames: ['result'] as const,
    registers: metrics.registers,
  });
  const callsDeferred = new Counter({
    name: 'crm_worker_calls_deferred_total',
    help: 'Due calls moved to their next open slot because they fell outside business hours.',
    registers: metrics.registers,
  });
  return {
    name: 'calls',
    jobs: () => [
      ...(url
        ? [
            createCallSchedulerJob({
              schedule: config.scheduler.schedules['call-scheduler'],
              webhook: createTelephonyWebhook({ url, token: settings.telephonyWebhookToken, timeoutMs: settings.webhookTimeoutMs }),
              batchSize: settings.batchSize,
              retrySpacingSeconds: settings.retrySpacingSeconds,
              outcomeTimeoutSeconds: settings.outcomeTimeoutSeconds,
              metrics: { callsPlaced, callsDeferred },
            }),
          ]
        : []),
      createCallCleanupJob({
        schedule: config.scheduler.schedules['call-cleanup'],
        retentionDays: config.callCleanup.retentionDays,
        batchSize: config.callCleanup.batchSize,
      }),
    ],
    apiRouter: () => {
      const deps = { db, defaults: { maxAttempts: settings.maxAttempts, retrySpacingSeconds: settings.retrySpacingSeconds } };
      return Router().use(callsRoutes(deps), v1CallRoutes(deps)).use('/v1', problemErrorHandler(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS));
    },
    apiSpec: () => callApiSpec,
    fixedStatuses: (): Record<string, 'disabled'> => (url ? {} : { telephony: 'disabled' }),
  };
};
