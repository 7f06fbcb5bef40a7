import { Router } from 'express';
import { deliveryApiRoutes, deliveryApiSpec } from './v1/delivery-api';
import { createPersonalizer } from '../ai/build-personalizer';
import { createPersonalizationMetrics } from '../ai/personalizer';
import { buildChannels, unsubscribeLinksOf } from '../channels/build-channels';
import type { ChannelName } from '../channels/channel';
import { LogChannel } from '../channels/log-channel';
import { standInForUnconfigured } from '../channels/unconfigured-channels';
import { WebhookChannel } from '../channels/webhook-channel';
import { DatabaseClock } from '../db/database-clock';
import type { ModuleFactory, WorkerModule } from '../modules/worker-module';
import { deliveryRoutes } from './api-routes';
import { deliveryDashboard } from './dashboard-source';
import { createDeliveryMetrics } from './delivery-metrics';
import { Dispatcher } from './dispatcher';
import { FollowUpService } from './followup-service';
import { ChannelRateLimits } from './rate-limits';
import { unsubscribeApiSpec } from './v1/unsubscribe-api-spec';
import { unsubscribeRoutes } from './v1/unsubscribe-routes';
import { workerHealth } from './worker-health';

/**
 * The delivery engine as a worker module: the outbox dispatcher (started with the worker,
 * stopped before the clients close), the delivery API under /api and the outbox panels of the
 * operator dashboard.
 */
export const deliveryModule: ModuleFactory = async (ctx): Promise<WorkerModule> => {
  const { config, db, logger, metrics, templates } = ctx;
  const delivery = config.delivery;
  const log = logger.child({ module: 'delivery' });

  const channels = await buildChannels(config, { logger });
  const databaseClock = new DatabaseClock(db);
  const webhook = new WebhookChannel({
    clock: databaseClock,
    targets: delivery.webhook.targets,
    secret: delivery.webhook.secret,
    allowPrivate: delivery.webhook.allowPrivate,
    logger,
  });
  channels.set('webhook', webhook);
  channels.set('log', new LogChannel(logger));
  // Webhook receivers get the idempotency key and drop repeats; the log channel is harmless to repeat.
  const idempotentChannels: ChannelName[] = ['webhook', 'log'];

  const webhookTargets = webhook.targetNames();
  const deliveryMetrics = createDeliveryMetrics(metrics.registers, db);
  const service = new FollowUpService(db, {
    webhookTargets,
    templates,
    privateWebhookUrls: delivery.webhook.allowPrivate ? 'allow' : 'refuse',
    metrics: deliveryMetrics,
  });
  const personalizer = await createPersonalizer(config.openai, { logger, metrics: createPersonalizationMetrics(metrics.registers) });
  const dispatcher = delivery.enabled
    ? new Dispatcher({
        db: ctx.deliveryDb,
        channels,
        idempotentChannels,
        rateLimits: new ChannelRateLimits(delivery.rateLimits, { redis: ctx.redis, keyPrefix: config.redis.keyPrefix }),
        personalizer,
        metrics: deliveryMetrics,
        logger,
        config: delivery,
        instanceId: config.instanceId,
        templates,
        clock: databaseClock,
        ...(ctx.tracing ? { tracing: ctx.tracing } : {}),
      })
    : undefined;

  return {
    name: 'delivery',
    apiRouter: () =>
      Router().use(
        deliveryRoutes({ service, db, config: delivery, webhookTargets, templates }),
        deliveryApiRoutes({
          service,
          validation: { webhookTargets, templates, privateWebhookUrls: delivery.webhook.allowPrivate ? 'allow' : 'refuse' },
          db,
          config: delivery,
          workerHealth: () => workerHealth(db, delivery.healthStaleMs),
        }),
      ),
    // One-click unsubscribe links (RFC 8058) are followed by recipients: signed, not keyed.
    publicApiRouter: () => unsubscribeRoutes({ db, links: unsubscribeLinksOf(config) }),
    apiSpec: () => [...deliveryApiSpec, ...unsubscribeApiSpec],
    dashboard: () => ({ messages: deliveryDashboard(service, db) }),
    async start() {
      if (!delivery.webhook.secret) log.warn('WEBHOOK_SECRET is not set: webhook requests go out unsigned');
      const standIns = standInForUnconfigured(channels, log);
      dispatcher?.start();
      log.info('delivery dispatcher started', {
        enabled: delivery.enabled,
        channels: [...channels.keys()],
        channelsOnLog: standIns,
        concurrency: delivery.concurrency,
        rateLimits: delivery.rateLimits,
        rateLimitStore: ctx.redis ? 'redis' : 'in-process',
      });
    },
    async stop() {
      // Within the shutdown step's own 5 s deadline: sends in flight get up to 3 s, sent marks 1 s.
      await dispatcher?.stop(Math.min(3_000, config.scheduler.shutdownTimeoutMs));
      webhook.close();
    },
  };
};
