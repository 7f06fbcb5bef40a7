import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { channelProblems, deliveryProblems, envSchema, jobsEnabledOf, redisProblems, scheduleProblems, workerModeProblems, type Env } from './schema';
import type { SentinelNode } from './redis-env';
import { databaseTargetOf } from '../db/database-hosts';
import { cronEveryMinutes, cronEverySeconds } from './cron-expression';

/** Names of the cron jobs whose schedule an operator can override (<NAME>_CRON). */
export type ScheduledJobName = 'campaign-scheduler' | 'lead-reminder-scheduler' | 'call-scheduler' | 'trial-expiration' | 'call-cleanup';

export interface Config {
  readonly nodeEnv: string;
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
  /** Identifies this process in locks, job history and logs. */
  readonly instanceId: string;
  readonly http: {
    readonly port: number;
    /** undefined = every interface (Node's default: IPv4 and IPv6). */
    readonly bindAddress: string | undefined;
    readonly apiKey: string | undefined;
    /** /api requests in flight beyond this are shed at once with 503 + Retry-After. */
    readonly apiMaxInFlight: number;
    readonly dashboard: {
      /** The session cookie's Secure attribute: set when operators reach the worker over TLS. */
      readonly cookieSecure: boolean;
      readonly sessionTtlMs: number;
      /** How often an open dashboard page refreshes itself. */
      readonly refreshSeconds: number;
    };
  };
  readonly database: {
    /** Undefined means the embedded PGlite database in pgliteDataDir. */
    readonly url: string | undefined;
    /** DATABASE_SCHEMA: the PostgreSQL schema holding every crm-worker table and function. */
    readonly schema: string;
    /** The API's pool (and the modules' other reads/writes); the hot paths have their own. */
    readonly poolMax: number;
    /** The delivery dispatcher's own pool: API load cannot take its connections. */
    readonly dispatcherPoolMax: number;
    /** The scheduler's own pool: tick fences and the jobs' fenced statements. */
    readonly jobsPoolMax: number;
    /** How long an API request waits for a connection before it is shed with 503 + Retry-After. */
    readonly apiAcquireTimeoutMs: number;
    /** How long the dispatcher, the scheduler and the health probe wait for a connection of their pools. */
    readonly acquireTimeoutMs: number;
    readonly queryTimeoutMs: number;
    readonly pgliteDataDir: string;
  };
  readonly redis: RedisConfig;
  readonly qdrant: { readonly url: string | undefined };
  /** Traces and error tracking, each off while its variable is unset (src/observability). */
  readonly observability: {
    /** OTEL_EXPORTER_OTLP_ENDPOINT: traces go to <endpoint>/v1/traces over OTLP/HTTP. */
    readonly otlpEndpoint: string | undefined;
    readonly serviceName: string;
    readonly sentryDsn: string | undefined;
    readonly sentryEnvironment: string | undefined;
  };
  readonly openai: {
    /** Undefined means personalization is off: messages go out as rendered. */
    readonly apiKey: string | undefined;
    /** Undefined means the client's default (api.openai.com). */
    readonly baseUrl: string | undefined;
    readonly model: string;
    readonly timeoutMs: number;
  };
  /** A channel whose settings are absent is not configured; messages for it fail permanently. */
  readonly channels: {
    readonly email: EmailChannelConfig | undefined;
    readonly twilio: TwilioChannelConfig | undefined;
  };
  /** What the outside world calls: the inbound Twilio webhook and the one-click unsubscribe. */
  readonly inbound: {
    /** PUBLIC_BASE_URL without a trailing slash; undefined = no inbound webhook, no unsubscribe links. */
    readonly publicBaseUrl: string | undefined;
    /** UNSUBSCRIBE_SECRET: the HMAC key of unsubscribe links; undefined = no List-Unsubscribe header. */
    readonly unsubscribeSecret: string | undefined;
  };
  readonly campaigns: { readonly batchSize: number; readonly batchDelayMs: number };
  readonly scheduler: {
    readonly jobsEnabled: boolean;
    readonly lockTtlMs: number;
    readonly shutdownTimeoutMs: number;
    readonly timezone: string;
    /** A tick fired later than this (event loop blocked, process paused) is counted missed. */
    readonly lateToleranceMs: number;
    readonly schedules: Readonly<Record<ScheduledJobName, string>>;
  };
  readonly callCleanup: { readonly retentionDays: number; readonly batchSize: number };
  readonly health: { readonly checkTimeoutMs: number; readonly probeIntervalMs: number };
  /** Knowledge sync into the embedded Qdrant; needs qdrant.url (and openai.apiKey for sync). */
  readonly knowledge: {
    readonly qdrantApiKey: string | undefined;
    readonly collection: string;
    readonly readyMaxBackoffMs: number;
    readonly qdrantTimeoutMs: number;
    readonly embeddingModel: string;
    readonly dimensions: number;
    readonly syncSchedule: string;
    readonly syncBatchSize: number;
    /** How often each replica copies stored embeddings its own Qdrant lacks (vector-copy.ts). */
    readonly copyIntervalMs: number;
    readonly snapshotSchedule: string;
    readonly snapshotKeep: number;
  };
  readonly calls: {
    /** Undefined means the call-scheduler job is not registered (/health shows telephony disabled). */
    readonly telephonyWebhookUrl: string | undefined;
    /** Sent as "Authorization: Bearer <token>" when set. */
    readonly telephonyWebhookToken: string | undefined;
    readonly webhookTimeoutMs: number;
    /** Defaults for tenants without their own call_settings row. */
    readonly maxAttempts: number;
    readonly retrySpacingSeconds: number;
    /** A placed call without an outcome after this long counts as unanswered. */
    readonly outcomeTimeoutSeconds: number;
    readonly batchSize: number;
  };
  readonly delivery: DeliveryConfig;
  readonly crm: {
    readonly schedules: { readonly nurture: string; readonly dunning: string; readonly kpiSnapshots: string };
    /** Days after an invoice's due date on which a payment reminder goes out. */
    readonly dunningReminderDays: readonly number[];
  };
}

/** The delivery engine (src/delivery): dispatcher, retries, rate limits, webhook, auto follow-ups. */
export interface DeliveryConfig {
  /** False: the dispatcher does not run in this process (the API still schedules). */
  readonly enabled: boolean;
  readonly concurrency: number;
  readonly batchSize: number;
  /** Rows of idempotent channels marked 'sending' before a slot is free (0: mark only as they start). */
  readonly markAhead: number;
  readonly leaseMs: number;
  readonly sendTimeoutMs: number;
  /** Longest sleep without a wake-up: a safety net for a lost LISTEN connection, not a poll. */
  readonly maxSleepMs: number;
  readonly staleAfterSeconds: number;
  readonly retry: {
    readonly maxAttempts: number;
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
    readonly byType: Readonly<Record<string, { readonly maxAttempts: number; readonly baseDelayMs: number }>>;
  };
  readonly rateLimits: Readonly<Record<string, { readonly points: number; readonly durationSeconds: number }>>;
  readonly healthStaleMs: number;
  /** Limits of every template parse and render (TEMPLATE_*), scheduling and sending alike. */
  readonly templateLimits: TemplateLimits;
  readonly webhook: {
    /** Target names → URLs; WEBHOOK_URL is the target named "default". */
    readonly targets: Readonly<Record<string, string>>;
    readonly secret: string | undefined;
    readonly allowPrivate: boolean;
  };
  readonly followup: {
    readonly enabled: boolean;
    readonly ruleTopP: number;
    readonly scheduleSeconds: readonly number[];
    /** webhook when a webhook target is configured, else log. */
    readonly channel: 'email' | 'sms' | 'whatsapp' | 'webhook' | 'log';
    readonly template: string;
  };
}

/** Limits of the template sandbox (src/templates/template-engine.ts), TEMPLATE_* in the environment. */
export interface TemplateLimits {
  /** Longest template text parsed, in characters (liquidjs parseLimit). */
  readonly parseLimit: number;
  /** Longest one render may take, in milliseconds (liquidjs renderLimit). */
  readonly renderLimitMs: number;
  /** Allocation budget of one render, in liquidjs units (about characters or array items). */
  readonly memoryLimit: number;
}

export interface EmailChannelConfig {
  /** smtp:// or smtps:// URL with credentials; when set, host/port/secure/user/pass are unused. */
  readonly url: string | undefined;
  readonly host: string | undefined;
  readonly port: number;
  readonly secure: boolean;
  readonly user: string | undefined;
  readonly pass: string | undefined;
  readonly from: string;
}

export interface TwilioChannelConfig {
  readonly accountSid: string;
  readonly authToken: string;
  /** Undefined means Twilio itself; tests point it at a local fake. */
  readonly apiBaseUrl: string | undefined;
  /** SMS is configured only with a sender number (or messaging service). */
  readonly smsFrom: string | undefined;
  /** WhatsApp is configured only with a sender; the whatsapp: prefix is added when missing. */
  readonly whatsappFrom: string | undefined;
}

export interface ConfigProblem {
  readonly variable: string;
  readonly message: string;
}

/** Redis: REDIS_URL or REDIS_SENTINELS (never both); neither means the in-process lock (one process only). */
export interface RedisConfig {
  readonly url: string | undefined;
  readonly sentinel: RedisSentinelConfig | undefined;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
}

export interface RedisSentinelConfig {
  readonly nodes: readonly SentinelNode[];
  /** REDIS_SENTINEL_MASTER: the name the sentinels monitor the master under. */
  readonly masterName: string;
  /** REDIS_PASSWORD: of the master and the replicas. */
  readonly password: string | undefined;
  /** REDIS_SENTINEL_PASSWORD: of the sentinels themselves (their requirepass). */
  readonly sentinelPassword: string | undefined;
}

/** Whether Redis is configured at all (a URL or sentinels); without it locks and limits are in-process. */
export function redisConfigured(redis: RedisConfig): boolean {
  return redis.url !== undefined || redis.sentinel !== undefined;
}

/** Thrown by loadConfig with every problem found, so an operator fixes them all in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map((p) => `${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses the environment once into a typed, deeply frozen Config. Throws ConfigError. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? 'environment');
      const raw = env[variable];
      const shown = raw === undefined || isSecret(variable) ? '' : ` (got "${raw}")`;
      const message = issue.message.includes('(got ') ? issue.message : issue.message + shown;
      return { variable, message };
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const problems = [...scheduleProblems(e), ...channelProblems(e), ...workerModeProblems(e), ...deliveryProblems(e), ...redisProblems(e)];
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(toConfig(e));
}

function toConfig(e: Env): Config {
  return {
    nodeEnv: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    instanceId: e.INSTANCE_ID ?? `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    http: {
      port: e.PORT,
      bindAddress: e.BIND_ADDRESS,
      apiKey: e.API_KEY,
      apiMaxInFlight: e.API_MAX_IN_FLIGHT,
      dashboard: {
        cookieSecure: e.DASHBOARD_COOKIE_SECURE,
        sessionTtlMs: e.DASHBOARD_SESSION_TTL_MINUTES * 60_000,
        refreshSeconds: e.DASHBOARD_REFRESH_SECONDS,
      },
    },
    database: {
      url: e.DATABASE_URL,
      schema: e.DATABASE_SCHEMA,
      poolMax: e.DB_POOL_MAX,
      dispatcherPoolMax: e.DB_DISPATCHER_POOL_MAX,
      jobsPoolMax: e.DB_JOBS_POOL_MAX,
      apiAcquireTimeoutMs: e.DB_API_ACQUIRE_TIMEOUT_MS,
      acquireTimeoutMs: e.DB_ACQUIRE_TIMEOUT_MS,
      queryTimeoutMs: e.DB_QUERY_TIMEOUT_MS,
      pgliteDataDir: e.PGLITE_DATA_DIR,
    },
    redis: {
      url: e.REDIS_URL,
      sentinel: e.REDIS_SENTINELS
        ? { nodes: e.REDIS_SENTINELS, masterName: e.REDIS_SENTINEL_MASTER, password: e.REDIS_PASSWORD, sentinelPassword: e.REDIS_SENTINEL_PASSWORD }
        : undefined,
      keyPrefix: e.REDIS_KEY_PREFIX,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    },
    qdrant: { url: e.QDRANT_URL },
    observability: {
      otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
      serviceName: e.OTEL_SERVICE_NAME,
      sentryDsn: e.SENTRY_DSN,
      sentryEnvironment: e.SENTRY_ENVIRONMENT,
    },
    openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL, model: e.OPENAI_MODEL, timeoutMs: e.OPENAI_TIMEOUT_MS },
    channels: {
      // channelProblems() has already rejected half-configured channels.
      email:
        e.SMTP_URL || e.SMTP_HOST
          ? {
              url: e.SMTP_URL,
              host: e.SMTP_HOST,
              port: e.SMTP_PORT,
              secure: e.SMTP_SECURE,
              user: e.SMTP_USER,
              pass: e.SMTP_PASS,
              from: e.EMAIL_FROM!,
            }
          : undefined,
      twilio:
        e.TWILIO_ACCOUNT_SID && e.TWILIO_AUTH_TOKEN
          ? {
              accountSid: e.TWILIO_ACCOUNT_SID,
              authToken: e.TWILIO_AUTH_TOKEN,
              apiBaseUrl: e.TWILIO_API_BASE_URL,
              smsFrom: e.TWILIO_SMS_FROM,
              whatsappFrom: e.TWILIO_WHATSAPP_FROM,
            }
          : undefined,
    },
    inbound: { publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''), unsubscribeSecret: e.UNSUBSCRIBE_SECRET },
    campaigns: { batchSize: e.CAMPAIGN_BATCH_SIZE, batchDelayMs: e.CAMPAIGN_BATCH_DELAY },
    scheduler: {
      jobsEnabled: jobsEnabledOf(e),
      lockTtlMs: e.LOCK_TTL_MS,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      timezone: e.CRON_TIMEZONE,
      lateToleranceMs: e.MISSED_TICK_TOLERANCE_MS,
      schedules: {
        'campaign-scheduler': e.CAMPAIGN_CRON ?? '0 * * * * *',
        // scheduleProblems() has already rejected intervals these helpers cannot express.
        'lead-reminder-scheduler': e.LEAD_REMINDER_CRON ?? cronEveryMinutes(e.LEAD_REMINDER_INTERVAL)!,
        'call-scheduler': e.CALL_SCHEDULER_CRON ?? cronEverySeconds(e.CALL_SCHEDULER_INTERVAL)!,
        'trial-expiration': e.TRIAL_EXPIRATION_CRON ?? '0 0 * * * *',
        'call-cleanup': e.CALL_CLEANUP_CRON ?? '0 30 3 * * *',
      },
    },
    callCleanup: { retentionDays: e.CALL_RETENTION_DAYS, batchSize: e.CALL_CLEANUP_BATCH_SIZE },
    health: { checkTimeoutMs: e.HEALTH_CHECK_TIMEOUT_MS, probeIntervalMs: e.HEALTH_PROBE_INTERVAL_MS },
    knowledge: {
      qdrantApiKey: e.QDRANT_API_KEY,
      collection: e.QDRANT_COLLECTION,
      readyMaxBackoffMs: e.QDRANT_READY_MAX_BACKOFF_MS,
      qdrantTimeoutMs: e.QDRANT_TIMEOUT_MS,
      embeddingModel: e.OPENAI_EMBEDDING_MODEL,
      dimensions: e.EMBEDDING_DIMENSIONS,
      syncSchedule: e.KNOWLEDGE_SYNC_CRON ?? '0 */5 * * * *',
      syncBatchSize: e.KNOWLEDGE_SYNC_BATCH_SIZE,
      copyIntervalMs: e.KNOWLEDGE_COPY_INTERVAL_MS,
      snapshotSchedule: e.QDRANT_SNAPSHOT_CRON ?? '0 15 2 * * *',
      snapshotKeep: e.QDRANT_SNAPSHOT_KEEP,
    },
    calls: {
      telephonyWebhookUrl: e.TELEPHONY_WEBHOOK_URL,
      telephonyWebhookToken: e.TELEPHONY_WEBHOOK_TOKEN,
      webhookTimeoutMs: e.TELEPHONY_WEBHOOK_TIMEOUT_MS,
      maxAttempts: e.CALL_MAX_ATTEMPTS,
      retrySpacingSeconds: e.CALL_RETRY_SPACING_SECONDS,
      outcomeTimeoutSeconds: e.CALL_OUTCOME_TIMEOUT_SECONDS,
      batchSize: e.CALL_BATCH_SIZE,
    },
    delivery: toDeliveryConfig(e),
    crm: {
      schedules: {
        nurture: e.NURTURE_CRON ?? '0 */5 * * * *',
        dunning: e.DUNNING_CRON ?? '0 */5 * * * *',
        // Every 15 minutes: each organization is snapshotted soon after 01:00 in its own zone.
        kpiSnapshots: e.KPI_SNAPSHOT_CRON ?? '0 */15 * * * *',
      },
      dunningReminderDays: e.DUNNING_REMINDER_DAYS,
    },
  };
}

function toDeliveryConfig(e: Env): DeliveryConfig {
  const targets: Record<string, string> = { ...(e.WEBHOOK_URL ? { default: e.WEBHOOK_URL } : {}), ...e.WEBHOOK_TARGETS };
  return {
    enabled: e.DELIVERY_ENABLED,
    concurrency: e.DELIVERY_CONCURRENCY,
    batchSize: e.DELIVERY_BATCH_SIZE,
    markAhead: e.DELIVERY_MARK_AHEAD,
    leaseMs: e.DELIVERY_LEASE_MS,
    sendTimeoutMs: e.DELIVERY_SEND_TIMEOUT_MS,
    maxSleepMs: e.DELIVERY_MAX_SLEEP_MS,
    staleAfterSeconds: e.DELIVERY_STALE_AFTER_SECONDS,
    retry: {
      maxAttempts: e.DELIVERY_MAX_ATTEMPTS,
      baseDelayMs: e.DELIVERY_RETRY_BASE_MS,
      maxDelayMs: e.DELIVERY_RETRY_MAX_MS,
      byType: e.DELIVERY_RETRY_POLICIES,
    },
    rateLimits: e.DELIVERY_RATE_LIMITS,
    healthStaleMs: e.DELIVERY_HEALTH_STALE_MS,
    templateLimits: {
      parseLimit: e.TEMPLATE_PARSE_LIMIT,
      renderLimitMs: e.TEMPLATE_RENDER_LIMIT_MS,
      memoryLimit: e.TEMPLATE_MEMORY_LIMIT,
    },
    webhook: { targets, secret: e.WEBHOOK_SECRET, allowPrivate: e.WEBHOOK_ALLOW_PRIVATE },
    followup: {
      enabled: e.FOLLOWUP_ENABLED,
      ruleTopP: e.FOLLOWUP_RULE_TOP_P,
      scheduleSeconds: e.FOLLOWUP_SCHEDULES,
      channel: e.FOLLOWUP_CHANNEL ?? (Object.keys(targets).length > 0 ? 'webhook' : 'log'),
      template: e.FOLLOWUP_TEMPLATE,
    },
  };
}

/**
 * The configured secret values, for the logger to mask wherever they appear (an error text or a
 * quoted request can carry one under no recognisable key): keys, tokens, passwords, and the
 * passwords inside connection URLs.
 */
export function secretValuesOf(config: Config): string[] {
  const urlPassword = (url: string | undefined) => {
    if (!url) return undefined;
    try {
      return decodeURIComponent(new URL(url).password) || undefined;
    } catch {
      return undefined;
    }
  };
  const urlUser = (url: string | undefined) => {
    if (!url) return undefined;
    try {
      return decodeURIComponent(new URL(url).username) || undefined;
    } catch {
      return undefined;
    }
  };
  const values = [
    config.http.apiKey,
    config.openai.apiKey,
    config.knowledge.qdrantApiKey,
    config.calls.telephonyWebhookToken,
    config.delivery.webhook.secret,
    config.channels.twilio?.authToken,
    config.inbound.unsubscribeSecret,
    config.channels.email?.pass,
    urlPassword(config.channels.email?.url),
    urlPassword(config.database.url ? databaseTargetOf(config.database.url).url : undefined),
    urlPassword(config.redis.url),
    // The DSN's key is its user name: whoever has it can send events to the project.
    urlUser(config.observability.sentryDsn),
    config.redis.sentinel?.password,
    config.redis.sentinel?.sentinelPassword,
  ];
  return values.filter((v): v is string => typeof v === 'string' && v.length > 0);
}

const SECRET_NAME = /KEY|TOKEN|SECRET|PASS|_URL$|_DSN$|_ENDPOINT$/;

/** Values of these variables never appear in messages: URLs carry credentials too. */
export function isSecret(variable: string): boolean {
  return SECRET_NAME.test(variable);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
