import { DisabledPersonalizer, type Personalizer } from '../../src/ai/personalizer';
import type { Channel, ChannelName } from '../../src/channels/channel';
import { LogChannel } from '../../src/channels/log-channel';
import { WebhookChannel } from '../../src/channels/webhook-channel';
import { loadConfig, type DeliveryConfig } from '../../src/config/config';
import type { Database } from '../../src/db/database';
import { DatabaseClock } from '../../src/db/database-clock';
import { createDeliveryMetrics, type DeliveryMetrics } from '../../src/delivery/delivery-metrics';
import { Dispatcher } from '../../src/delivery/dispatcher';
import type { ScheduleRequest } from '../../src/delivery/outbox';
import { FollowUpService } from '../../src/delivery/followup-service';
import { createTemplateEngine } from '../../src/templates/template-engine';
import { ChannelRateLimits } from '../../src/delivery/rate-limits';
import { createMetrics } from '../../src/metrics/metrics';
import type { RedisClient } from '../../src/redis/redis-client';
import { createLogger } from '../../src/logging/logger';
import { openScratchDatabase, quietLogger, type ScratchDatabase } from './harness';

// DELIVERY_TEST_LOG=1 shows the dispatcher's log while debugging a test.
const dispatcherLogger = process.env.DELIVERY_TEST_LOG ? createLogger({ level: 'debug', instanceId: 'test' }) : quietLogger;

/** A migrated database of either kind for one test file, with a tenant "t1"; close() cleans up. */
export async function openDeliveryDatabase(kind: 'postgres' | 'pglite'): Promise<ScratchDatabase> {
  const scratch = await openScratchDatabase(kind);
  await scratch.db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one') ON CONFLICT DO NOTHING`);
  return scratch;
}

/** Delivery settings as the worker would read them from this environment (plus test defaults). */
export function deliveryConfig(env: Record<string, string> = {}): DeliveryConfig {
  return loadConfig({ WEBHOOK_ALLOW_PRIVATE: 'true', DELIVERY_RETRY_BASE_MS: '50', ...env }).delivery;
}

export interface InProcessDispatcher {
  dispatcher: Dispatcher;
  service: FollowUpService;
  metrics: DeliveryMetrics;
  stop(): Promise<void>;
}

/** A dispatcher in this process over real channels (webhook to a loopback sink, log). */
export function startDispatcher(
  db: Database,
  config: DeliveryConfig,
  options: { instanceId?: string; redis?: RedisClient; keyPrefix?: string; personalizer?: Personalizer; channels?: Map<ChannelName, Channel> } = {},
): InProcessDispatcher {
  const clock = new DatabaseClock(db);
  const webhook = new WebhookChannel({
    targets: config.webhook.targets,
    secret: config.webhook.secret,
    allowPrivate: config.webhook.allowPrivate,
    logger: quietLogger,
    clock,
  });
  const channels = options.channels ?? new Map<ChannelName, Channel>();
  channels.set('webhook', webhook);
  channels.set('log', new LogChannel(quietLogger));
  const metrics = createDeliveryMetrics(createMetrics().registers, db);
  const dispatcher = new Dispatcher({
    db,
    channels,
    idempotentChannels: ['webhook', 'log'],
    rateLimits: new ChannelRateLimits(config.rateLimits, { redis: options.redis, keyPrefix: options.keyPrefix ?? '' }),
    personalizer: options.personalizer ?? new DisabledPersonalizer(),
    metrics,
    logger: dispatcherLogger,
    config,
    instanceId: options.instanceId ?? 'test-dispatcher',
    templates: createTemplateEngine(config.templateLimits),
    clock,
  });
  dispatcher.start();
  return {
    dispatcher,
    service: new FollowUpService(db, { webhookTargets: webhook.targetNames(), metrics }),
    metrics,
    async stop() {
      await dispatcher.stop(2_000);
      webhook.close();
    },
  };
}

export async function statusOf(db: Database, key: string): Promise<Record<string, any> | undefined> {
  const result = await db.query(`SELECT * FROM scheduled_messages WHERE idempotency_key = $1`, [key]);
  return result.rows[0];
}

/** A webhook message to the test sink target "sink" for tenant t1, due in `dueInMs`. */
export function sinkRequest(key: string, dueInMs = 500): ScheduleRequest {
  return {
    tenantId: 't1',
    channel: 'webhook',
    recipient: 'sink',
    scheduledAt: new Date(Date.now() + dueInMs),
    template: 'Message {{ key }}',
    variables: { key },
    idempotencyKey: key,
  };
}

/**
 * A stream of `count` webhook messages to "sink" for tenant t1, one per contact, the first due
 * now and each next one `everyMs` later: what a fault test keeps in flight across a failover.
 */
export function sinkStream(keyPrefix: string, count: number, everyMs: number): ScheduleRequest[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) => ({
    tenantId: 't1',
    contactId: `c${i}`,
    channel: 'webhook',
    recipient: 'sink',
    scheduledAt: new Date(now + i * everyMs),
    template: 'Message {{ n }}',
    variables: { n: i },
    idempotencyKey: `${keyPrefix}-${i}`,
  }));
}

export interface OutboxRow {
  idempotency_key: string;
  status: string;
  resolution: string | null;
  attempts: number;
}

/** The outbox rows whose idempotency key starts with `prefix`, in scheduling order. */
export async function outboxRows(db: Database, prefix: string): Promise<OutboxRow[]> {
  const result = await db.query<OutboxRow>(
    `SELECT idempotency_key, status, resolution, attempts FROM scheduled_messages WHERE idempotency_key LIKE $1 ORDER BY id`,
    [`${prefix}%`],
  );
  return result.rows;
}

/**
 * The environment of a worker process that only delivers (no cron jobs), to a loopback webhook
 * sink named "sink", signing with `secret`: the base the process-level delivery tests add to.
 */
export function sinkWorkerEnv(serviceEnv: Record<string, string>, sinkUrl: string, secret: string): Record<string, string> {
  return {
    ...serviceEnv,
    LOG_LEVEL: 'info',
    JOBS_ENABLED: 'false',
    WEBHOOK_TARGETS: `sink=${sinkUrl}`,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_SECRET: secret,
  };
}
