import net from 'node:net';
import { z } from 'zod';
import { cronEveryMinutes, cronEverySeconds, cronExpressionProblem } from './cron-expression';
import { parseRateLimits, parseRetryPolicies, parseSchedules, parseWebhookTargets } from './delivery-env';
import { DEFAULT_SCHEMA, schemaNameProblem } from '../db/schema';
import { parseSentinelNodes } from './redis-env';
import { parseDatabaseUrl } from '../db/database-hosts';

const int = (min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` });

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const url = (protocols: string[]) =>
  optionalText.refine(
    (v) => {
      if (v === undefined) return true;
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => p + '//').join(' or ')}` },
  );

const cron = optionalText.superRefine((v, ctx) => {
  if (v === undefined) return;
  const problem = cronExpressionProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `${problem} (got "${v}")` });
});

const timezone = z
  .string()
  .default('UTC')
  .refine(
    (tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be an IANA time zone such as UTC or America/New_York' },
  );

const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Every environment variable crm-worker reads, with the design's names and defaults. */
export const envSchema = z.object({
  NODE_ENV: z.string().default('production'),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug'], { message: 'must be error, warn, info or debug' }).default('info'),
  INSTANCE_ID: optionalText,

  PORT: int(0, 65535).default(3002),
  // The address the HTTP server listens on; unset = every interface (IPv4 and IPv6), as before.
  BIND_ADDRESS: optionalText.refine((v) => v === undefined || net.isIP(v) !== 0 || v === 'localhost', {
    message: 'must be an IP address such as 0.0.0.0, 127.0.0.1 or ::, or localhost',
  }),
  API_KEY: optionalText.refine((v) => v === undefined || v.length >= 16, {
    message: 'must be at least 16 characters',
  }),
  // The operator dashboard (/dashboard) signs in with API_KEY; behind TLS its cookie is Secure.
  DASHBOARD_COOKIE_SECURE: boolean.default(false),
  DASHBOARD_SESSION_TTL_MINUTES: int(1, 7 * 24 * 60).default(480),
  DASHBOARD_REFRESH_SECONDS: int(1, 3_600).default(5),

  // One host, or several as libpq takes them (postgres://u@a:5432,b:5432/db?target_session_attrs=read-write).
  DATABASE_URL: optionalText.superRefine((v, ctx) => {
    if (v === undefined) return;
    const parsed = parseDatabaseUrl(v);
    if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
  }),
  // Every table and function lives in this schema (embedded database too); see src/db/schema.ts.
  DATABASE_SCHEMA: z
    .string()
    .default(DEFAULT_SCHEMA)
    .superRefine((v, ctx) => {
      const problem = schemaNameProblem(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  DB_POOL_MAX: int(1, 200).default(10),
  DB_DISPATCHER_POOL_MAX: int(2, 200).default(8),
  // Ten: every job the worker registers can fire at the same instant (the top of the hour), each
  // holding a connection for its fence and its statements.
  DB_JOBS_POOL_MAX: int(1, 200).default(10),
  DB_API_ACQUIRE_TIMEOUT_MS: int(10, 60_000).default(1_000),
  DB_ACQUIRE_TIMEOUT_MS: int(100, 600_000).default(10_000),
  API_MAX_IN_FLIGHT: int(1, 100_000).default(100),
  DB_QUERY_TIMEOUT_MS: int(100, 600_000).default(30_000),
  PGLITE_DATA_DIR: z.string().default('./data/pglite'),

  REDIS_URL: url(['redis:', 'rediss:']),
  // Redis behind Sentinel, instead of REDIS_URL: the sentinels to ask, the master's name as the
  // sentinels know it, and the passwords of the data nodes (master, replicas) and of the sentinels.
  REDIS_SENTINELS: optionalText.transform((v, ctx) => (v === undefined ? undefined : parsedOrIssue(parseSentinelNodes(v), ctx))),
  REDIS_SENTINEL_MASTER: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, { message: 'must be the master name the sentinels monitor: 1-128 letters, digits, ".", "_" or "-"' })
    .default('mymaster'),
  REDIS_PASSWORD: optionalText,
  REDIS_SENTINEL_PASSWORD: optionalText,
  REDIS_KEY_PREFIX: z.string().default(''),
  REDIS_COMMAND_TIMEOUT_MS: int(50, 60_000).default(2_000),

  QDRANT_URL: url(['http:', 'https:']),
  // Traces over OTLP/HTTP to this endpoint (/v1/traces is appended, as the OpenTelemetry spec says); unset = off.
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http:', 'https:']),
  OTEL_SERVICE_NAME: z.string().trim().min(1, { message: 'must not be empty' }).max(200).default('crm-worker'),
  // Error tracking through Sentry; unset = off.
  SENTRY_DSN: url(['http:', 'https:']),
  SENTRY_ENVIRONMENT: optionalText,
  OPENAI_API_KEY: optionalText,
  OPENAI_BASE_URL: url(['http:', 'https:']),
  OPENAI_MODEL: z.string().trim().min(1, { message: 'must not be empty' }).default('gpt-4o-mini'),
  OPENAI_TIMEOUT_MS: int(100, 120_000).default(10_000),

  SMTP_URL: url(['smtp:', 'smtps:']),
  SMTP_HOST: optionalText,
  SMTP_PORT: int(1, 65535).default(587),
  SMTP_USER: optionalText,
  SMTP_PASS: optionalText,
  SMTP_SECURE: boolean.default(false),
  EMAIL_FROM: optionalText.refine((v) => v === undefined || /^[^@\s<>]+@[^@\s<>]+$|<[^@\s<>]+@[^@\s<>]+>$/.test(v), {
    message: 'must be an e-mail address, optionally as "Name <address>"',
  }),
  TWILIO_ACCOUNT_SID: optionalText.refine((v) => v === undefined || /^AC[0-9a-fA-F]{32}$/.test(v), {
    message: 'must be AC followed by 32 hex digits',
  }),
  TWILIO_AUTH_TOKEN: optionalText,
  TWILIO_SMS_FROM: optionalText,
  TWILIO_WHATSAPP_FROM: optionalText,
  TWILIO_API_BASE_URL: url(['http:', 'https:']),
  // The worker's address as the outside world reaches it (through any proxy): Twilio signs the
  // inbound webhook over this URL, and e-mail unsubscribe links point at it.
  PUBLIC_BASE_URL: url(['http:', 'https:']).refine((v) => v === undefined || !/[?#]/.test(v), {
    message: 'must be a base URL without query or fragment, such as https://worker.example.com',
  }),
  UNSUBSCRIBE_SECRET: optionalText.refine((v) => v === undefined || v.length >= 32, { message: 'must be at least 32 characters' }),

  CAMPAIGN_BATCH_SIZE: int(1, 100_000).default(100),
  CAMPAIGN_BATCH_DELAY: int(0, 3_600_000).default(5_000),
  CALL_SCHEDULER_INTERVAL: int(1, 86_400).default(30),
  LEAD_REMINDER_INTERVAL: int(1, 1_440).default(60),

  LOCK_TTL_MS: int(1_000, 3_600_000).default(60_000),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(5_000),
  CRON_TIMEZONE: timezone,
  CAMPAIGN_CRON: cron,
  LEAD_REMINDER_CRON: cron,
  CALL_SCHEDULER_CRON: cron,
  TRIAL_EXPIRATION_CRON: cron,
  CALL_CLEANUP_CRON: cron,
  // Both default to true; the design's IS_WORKER=false means the same as JOBS_ENABLED=false.
  JOBS_ENABLED: boolean.optional(),
  IS_WORKER: boolean.optional(),
  MISSED_TICK_TOLERANCE_MS: int(100, 3_600_000).default(5_000),

  CALL_RETENTION_DAYS: int(1, 3_650).default(90),
  CALL_CLEANUP_BATCH_SIZE: int(1, 100_000).default(1_000),

  HEALTH_CHECK_TIMEOUT_MS: int(50, 30_000).default(1_000),
  HEALTH_PROBE_INTERVAL_MS: int(100, 60_000).default(2_000),

  // --- knowledge / container ---
  QDRANT_API_KEY: optionalText,
  QDRANT_COLLECTION: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]{1,255}$/, { message: 'must be 1-255 letters, digits, _ or -' })
    .default('bharat_crm_knowledge'),
  QDRANT_READY_MAX_BACKOFF_MS: int(100, 300_000).default(30_000),
  QDRANT_TIMEOUT_MS: int(100, 600_000).default(30_000),
  OPENAI_EMBEDDING_MODEL: z.string().trim().min(1, { message: 'must not be empty' }).default('text-embedding-3-small'),
  EMBEDDING_DIMENSIONS: int(1, 65_536).default(1536),
  KNOWLEDGE_SYNC_CRON: cron,
  KNOWLEDGE_SYNC_BATCH_SIZE: int(1, 2_048).default(64),
  KNOWLEDGE_COPY_INTERVAL_MS: int(100, 86_400_000).default(30_000),
  QDRANT_SNAPSHOT_CRON: cron,
  QDRANT_SNAPSHOT_KEEP: int(1, 1_000).default(7),
  // --- calls ---
  TELEPHONY_WEBHOOK_URL: url(['http:', 'https:']),
  TELEPHONY_WEBHOOK_TOKEN: optionalText,
  TELEPHONY_WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(10_000),
  CALL_MAX_ATTEMPTS: int(1, 20).default(3),
  CALL_RETRY_SPACING_SECONDS: int(1, 604_800).default(1_800),
  CALL_OUTCOME_TIMEOUT_SECONDS: int(10, 86_400).default(3_600),
  CALL_BATCH_SIZE: int(1, 10_000).default(50),
  // --- delivery ---
  DELIVERY_ENABLED: boolean.default(true),
  DELIVERY_CONCURRENCY: int(1, 1_000).default(5),
  DELIVERY_BATCH_SIZE: int(1, 5_000).default(100),
  DELIVERY_MARK_AHEAD: int(0, 5_000).default(20),
  DELIVERY_LEASE_MS: int(1_000, 3_600_000).default(60_000),
  DELIVERY_SEND_TIMEOUT_MS: int(100, 600_000).default(10_000),
  DELIVERY_MAX_SLEEP_MS: int(100, 3_600_000).default(5_000),
  DELIVERY_STALE_AFTER_SECONDS: int(1, 365 * 86_400).default(86_400),
  DELIVERY_MAX_ATTEMPTS: int(1, 100).default(3),
  DELIVERY_RETRY_BASE_MS: int(1, 86_400_000).default(30_000),
  DELIVERY_RETRY_MAX_MS: int(1, 7 * 86_400_000).default(3_600_000),
  DELIVERY_RETRY_POLICIES: listOf(parseRetryPolicies, ''),
  DELIVERY_RATE_LIMITS: z
    .string()
    .default('sms=10/1m')
    .transform((v, ctx) => parsedOrIssue(parseRateLimits(v, ['email', 'sms', 'whatsapp', 'webhook', 'log']), ctx)),
  DELIVERY_HEALTH_STALE_MS: int(1_000, 86_400_000).default(300_000),
  // Template sandbox (src/templates/template-engine.ts). A render is synchronous: its time limit is how
  // long one template may hold the event loop, so it is capped at a few seconds.
  TEMPLATE_PARSE_LIMIT: int(1_000, 10_000_000).default(100_000),
  TEMPLATE_RENDER_LIMIT_MS: int(10, 5_000).default(500),
  TEMPLATE_MEMORY_LIMIT: int(10_000, 1_000_000_000).default(2_000_000),
  WEBHOOK_URL: url(['http:', 'https:']),
  WEBHOOK_TARGETS: listOf(parseWebhookTargets, ''),
  WEBHOOK_SECRET: optionalText,
  WEBHOOK_ALLOW_PRIVATE: boolean.default(false),
  FOLLOWUP_ENABLED: boolean.default(true),
  FOLLOWUP_RULE_TOP_P: z.coerce
    .number({ message: 'must be a number' })
    .min(0, { message: 'must be between 0 and 1' })
    .max(1, { message: 'must be between 0 and 1' })
    .default(0.7),
  FOLLOWUP_SCHEDULES: listOf(parseSchedules, '30m,2h'),
  FOLLOWUP_CHANNEL: z.enum(['email', 'sms', 'whatsapp', 'webhook', 'log'], { message: 'must be email, sms, whatsapp, webhook or log' }).optional(),
  FOLLOWUP_TEMPLATE: z.string().min(1).default('Auto follow-up at +{{ delay_seconds }}s for lead {{ lead_id }}'),

  // --- crm jobs ---
  NURTURE_CRON: cron,
  DUNNING_CRON: cron,
  KPI_SNAPSHOT_CRON: cron,
  DUNNING_REMINDER_DAYS: z
    .string()
    .default('1,3,7,14')
    .transform((v, ctx) => {
      const days = v.split(',').map((d) => d.trim());
      if (days.some((d) => !/^\d{1,3}$/.test(d))) {
        ctx.addIssue({ code: 'custom', message: `must be whole numbers of days separated by commas, such as 1,3,7 (got "${v}")` });
        return z.NEVER;
      }
      const numbers = [...new Set(days.map(Number))].sort((a, b) => a - b);
      if (numbers.length === 0 || numbers.length > 20) {
        ctx.addIssue({ code: 'custom', message: `must list 1 to 20 days (got "${v}")` });
        return z.NEVER;
      }
      return numbers;
    }),
});

/** A list variable parsed by one of the delivery-env parsers; its problem becomes the variable's message. */
function listOf<T>(parse: (text: string) => { value: T } | { problem: string }, fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((v, ctx) => parsedOrIssue(parse(v), ctx));
}

function parsedOrIssue<T>(result: { value: T } | { problem: string }, ctx: z.RefinementCtx): T {
  if ('problem' in result) {
    ctx.addIssue({ code: 'custom', message: result.problem });
    return z.NEVER;
  }
  return result.value;
}

export type Env = z.infer<typeof envSchema>;

/** Channel variables that only make sense together: a half-configured channel is an error, not absent. */
export function channelProblems(env: Env): Array<{ variable: string; message: string }> {
  const problems: Array<{ variable: string; message: string }> = [];
  const smtp = env.SMTP_URL !== undefined || env.SMTP_HOST !== undefined;
  if (smtp && !env.EMAIL_FROM) problems.push({ variable: 'EMAIL_FROM', message: 'is required when SMTP_URL or SMTP_HOST is set' });
  if (!smtp && env.EMAIL_FROM) problems.push({ variable: 'SMTP_HOST', message: 'or SMTP_URL is required when EMAIL_FROM is set' });
  if (env.SMTP_URL && env.SMTP_HOST) problems.push({ variable: 'SMTP_HOST', message: 'set SMTP_URL or SMTP_HOST, not both' });
  if ((env.SMTP_USER === undefined) !== (env.SMTP_PASS === undefined)) {
    problems.push({ variable: env.SMTP_USER ? 'SMTP_PASS' : 'SMTP_USER', message: 'SMTP_USER and SMTP_PASS go together' });
  }
  const twilio = env.TWILIO_ACCOUNT_SID !== undefined || env.TWILIO_AUTH_TOKEN !== undefined;
  const senders = env.TWILIO_SMS_FROM !== undefined || env.TWILIO_WHATSAPP_FROM !== undefined;
  if (twilio || senders) {
    if (!env.TWILIO_ACCOUNT_SID) problems.push({ variable: 'TWILIO_ACCOUNT_SID', message: 'is required for SMS and WhatsApp' });
    if (!env.TWILIO_AUTH_TOKEN) problems.push({ variable: 'TWILIO_AUTH_TOKEN', message: 'is required for SMS and WhatsApp' });
    if (!senders) problems.push({ variable: 'TWILIO_SMS_FROM', message: 'or TWILIO_WHATSAPP_FROM is required with Twilio credentials' });
  }
  if (env.UNSUBSCRIBE_SECRET && !env.PUBLIC_BASE_URL) {
    problems.push({ variable: 'PUBLIC_BASE_URL', message: 'is required with UNSUBSCRIBE_SECRET (the unsubscribe links point at it)' });
  }
  return problems;
}

/**
 * Whether this process runs the cron jobs: JOBS_ENABLED, or the design's IS_WORKER (false = serve
 * HTTP and deliver only); true when neither is set.
 */
export function jobsEnabledOf(env: Env): boolean {
  return env.JOBS_ENABLED ?? env.IS_WORKER ?? true;
}

/** IS_WORKER and JOBS_ENABLED name one switch: saying both, differently, is a mistake to report. */
export function workerModeProblems(env: Env): Array<{ variable: string; message: string }> {
  if (env.JOBS_ENABLED !== undefined && env.IS_WORKER !== undefined && env.JOBS_ENABLED !== env.IS_WORKER) {
    return [{ variable: 'IS_WORKER', message: `is ${env.IS_WORKER} but JOBS_ENABLED is ${env.JOBS_ENABLED}: they mean the same, set one` }];
  }
  return [];
}

/** Redis is reached one way: a URL, or the sentinels; the passwords of the sentinel way go with it. */
export function redisProblems(env: Env): Array<{ variable: string; message: string }> {
  const problems: Array<{ variable: string; message: string }> = [];
  if (env.REDIS_URL !== undefined && env.REDIS_SENTINELS !== undefined) {
    problems.push({ variable: 'REDIS_SENTINELS', message: 'set REDIS_URL or REDIS_SENTINELS, not both' });
  }
  if (env.REDIS_SENTINELS === undefined) {
    for (const variable of ['REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD'] as const) {
      if (env[variable] !== undefined) {
        problems.push({ variable, message: 'is read only with REDIS_SENTINELS (with REDIS_URL, the password goes in the URL)' });
      }
    }
  }
  return problems;
}

/**
 * The delivery lease must outlast a send: a send may take DELIVERY_SEND_TIMEOUT_MS, and the
 * dispatcher starts one only with the timeout plus half the remaining slack of the lease left
 * (renewing it first when needed). Below twice the timeout a slow send would outlive its lease
 * and another worker would resend it while it is still in flight.
 */
export function deliveryProblems(env: Env): Array<{ variable: string; message: string }> {
  if (env.DELIVERY_LEASE_MS >= env.DELIVERY_SEND_TIMEOUT_MS * 2) return [];
  return [
    {
      variable: 'DELIVERY_LEASE_MS',
      message: `must be at least twice DELIVERY_SEND_TIMEOUT_MS (${env.DELIVERY_SEND_TIMEOUT_MS}), so that a send ends while its lease holds (got "${env.DELIVERY_LEASE_MS}")`,
    },
  ];
}

/** Derived schedules: an explicit *_CRON wins; otherwise the design's interval variables apply. */
export function scheduleProblems(env: Env): Array<{ variable: string; message: string }> {
  const problems: Array<{ variable: string; message: string }> = [];
  if (!env.CALL_SCHEDULER_CRON && !cronEverySeconds(env.CALL_SCHEDULER_INTERVAL)) {
    problems.push({
      variable: 'CALL_SCHEDULER_INTERVAL',
      message: 'must divide a minute evenly (1-30 s) or be whole minutes; set CALL_SCHEDULER_CRON for other schedules',
    });
  }
  if (!env.LEAD_REMINDER_CRON && !cronEveryMinutes(env.LEAD_REMINDER_INTERVAL)) {
    problems.push({
      variable: 'LEAD_REMINDER_INTERVAL',
      message: 'must divide an hour or a day evenly; set LEAD_REMINDER_CRON for other schedules',
    });
  }
  return problems;
}
