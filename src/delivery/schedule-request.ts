import { z } from 'zod';
import { createTemplateEngine, TemplateRenderError, type TemplateEngine } from '../templates/template-engine';
import { ValidationError, type FieldIssue } from './validation-error';
import type { ChannelName } from '../channels/channel';
import { isPrivateUrl } from '../channels/address-guard';
import { MESSAGE_CLASSES } from './message-class';
import { MAX_TRACEPARENT_LENGTH, parseTraceparent, TRACEPARENT_PROBLEM } from '../observability/traceparent';

export const CHANNEL_NAMES = ['email', 'sms', 'whatsapp', 'webhook', 'log'] as const satisfies readonly ChannelName[];

/** E.164: a plus, a country code that does not start with 0, at most 15 digits in all. */
const E164 = /^\+[1-9]\d{6,14}$/;
/** A webhook target configured by name (WEBHOOK_TARGETS), as opposed to a literal URL. */
const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const optionalId = z.string().trim().min(1).max(200).nullish();

/**
 * The shortest interval of a recurring message. Below a minute a series is a flood, not a
 * reminder (one call once asked for every second, for ever), and it would keep a dispatcher busy
 * for one recipient; anything that must happen more often is not a message to a person.
 */
export const MIN_RECURRENCE_INTERVAL_SECONDS = 60;
/** The suffix of the keys crm-worker gives a series' later occurrences (outbox/recurrence.ts scheduleNextOccurrences). */
const OCCURRENCE_KEY_SUFFIX = /@r[0-9]+$/;

/** Shape of one ScheduleRequest (see outbox/schedule.ts); recipient and template are checked per channel below. */
export const scheduleRequestSchema = z.object({
  tenantId: z.string().trim().min(1, 'required').max(200),
  contactId: optionalId,
  leadId: optionalId,
  channel: z.enum(CHANNEL_NAMES, { error: `must be one of ${CHANNEL_NAMES.join(', ')}` }),
  recipient: z.string().trim().min(1, 'required').max(2048),
  scheduledAt: z.date({ error: 'must be a time' }).refine((d) => !Number.isNaN(d.getTime()), 'not a valid time'),
  template: z.string().min(1, 'required').max(20_000),
  subject: z.string().max(998).optional(),
  variables: z.record(z.string(), z.unknown()).optional(),
  tone: z.string().max(100).optional(),
  type: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9_-]+$/i, 'letters, digits, - and _ only')
    .optional(),
  class: z.enum(MESSAGE_CLASSES, { error: `must be one of ${MESSAGE_CLASSES.join(', ')}` }).optional(),
  idempotencyKey: z.string().trim().min(1, 'required').max(512),
  skipIfCompleted: z.boolean().optional(),
  actionItemId: optionalId,
  stopOnReply: z.boolean().optional(),
  personalize: z.boolean().optional(),
  contextHints: z.record(z.string(), z.unknown()).nullish(),
  recurrenceIntervalSeconds: z
    .number({ error: 'must be a whole number of seconds' })
    .int('must be a whole number of seconds')
    .min(MIN_RECURRENCE_INTERVAL_SECONDS, `must be at least ${MIN_RECURRENCE_INTERVAL_SECONDS} seconds`)
    .max(366 * 86_400, 'must be at most 366 days')
    .nullish(),
  traceparent: traceparentSchema().nullish(),
});

/** A W3C traceparent (src/observability/traceparent.ts), as a field and as the HTTP header. */
export function traceparentSchema() {
  return z
    .string({ error: 'must be a string' })
    .max(MAX_TRACEPARENT_LENGTH, TRACEPARENT_PROBLEM)
    .refine((value) => parseTraceparent(value) !== undefined, TRACEPARENT_PROBLEM);
}

export type ValidScheduleRequest = z.infer<typeof scheduleRequestSchema>;

export interface ValidationOptions {
  /** Webhook target names the engine knows; when given, a webhook recipient must be one of them or a URL. */
  webhookTargets?: ReadonlySet<string>;
  /** The sandboxed engine built from TEMPLATE_* (worker.ts); callers without one get the default limits. */
  templates?: TemplateEngine;
  /**
   * Shared by the validations of one API request: once a template ran into a limit the request
   * is refused anyway, so the templates after it are not rendered (a body of many hostile
   * templates costs one render limit, not one per message).
   */
  templateCheck?: TemplateCheckState;
  /**
   * 'refuse' (the API's setting unless WEBHOOK_ALLOW_PRIVATE=true): a webhook URL whose host is a
   * private or loopback IP literal, or localhost, is refused here, so the caller learns it at once
   * instead of from a failed row later. Names are still checked at send time on the address connected to.
   */
  privateWebhookUrls?: 'refuse' | 'allow';
}

export interface TemplateCheckState {
  limitHit: boolean;
}

let defaultEngine: TemplateEngine | undefined;
/** CRM jobs schedule through scheduleMessages() without options; they get the default limits. */
function templatesOf(options: ValidationOptions): TemplateEngine {
  if (options.templates) return options.templates;
  defaultEngine ??= createTemplateEngine();
  return defaultEngine;
}

/**
 * Checks every request and returns them parsed, or throws one ValidationError listing every
 * problem. Field names are the request's own (recipient, variables.firstName); in a batch of more
 * than one they are prefixed with the index (requests[3].recipient).
 */
export function validateScheduleRequests(requests: readonly unknown[], options: ValidationOptions = {}): ValidScheduleRequest[] {
  if (!Array.isArray(requests)) throw new ValidationError([{ field: 'requests', message: 'must be an array' }]);
  const issues: FieldIssue[] = [];
  const valid: ValidScheduleRequest[] = [];
  const shared = { ...options, templateCheck: options.templateCheck ?? { limitHit: false } };
  requests.forEach((request, index) => {
    const prefix = requests.length > 1 ? `requests[${index}].` : '';
    const own = validateOne(request, shared);
    if ('issues' in own) issues.push(...own.issues.map((i) => ({ field: prefix + i.field, message: i.message })));
    else valid.push(own.request);
  });
  if (issues.length > 0) throw new ValidationError(issues);
  return valid;
}

function validateOne(request: unknown, options: ValidationOptions): { request: ValidScheduleRequest } | { issues: FieldIssue[] } {
  const parsed = scheduleRequestSchema.safeParse(request);
  if (!parsed.success) {
    return {
      issues: parsed.error.issues.map((issue) => ({
        field: issue.path.length > 0 ? issue.path.map(String).join('.') : 'request',
        message: issue.message,
      })),
    };
  }
  const value = parsed.data;
  const issues: FieldIssue[] = [];
  const recipientProblem = checkRecipient(value.channel, value.recipient, options);
  if (recipientProblem) issues.push({ field: 'recipient', message: recipientProblem });
  if (value.recurrenceIntervalSeconds && OCCURRENCE_KEY_SUFFIX.test(value.idempotencyKey)) {
    // The series key is the key without that suffix: cancelling by the key given would then miss
    // the later occurrences.
    issues.push({ field: 'idempotencyKey', message: "a recurring message's key must not end in @r<digits> (reserved for its occurrences)" });
  }
  if (value.skipIfCompleted && !value.actionItemId) {
    issues.push({ field: 'actionItemId', message: 'required when skipIfCompleted is true' });
  }
  const templates = templatesOf(options);
  for (const [field, text] of [
    ['template', value.template],
    ['subject', value.subject],
  ] as const) {
    if (text === undefined) continue;
    if (options.templateCheck?.limitHit) {
      issues.push({ field, message: 'not checked: an earlier template of this request ran into a template limit' });
      continue;
    }
    try {
      templates.render(text, value.variables ?? {});
    } catch (err) {
      if (!(err instanceof TemplateRenderError)) throw err;
      if (err.problem.reason === 'limit' && options.templateCheck) options.templateCheck.limitHit = true;
      // A syntax error belongs to the field that holds the text; a missing variable to variables.x.
      issues.push({ field: err.problem.field === 'template' ? field : err.problem.field, message: err.problem.message });
    }
  }
  return issues.length > 0 ? { issues } : { request: value };
}

function checkRecipient(channel: ChannelName, recipient: string, options: ValidationOptions): string | undefined {
  switch (channel) {
    case 'email':
      return z.email().safeParse(recipient).success ? undefined : 'not a valid e-mail address';
    case 'sms':
      return E164.test(recipient) ? undefined : 'not an E.164 phone number (e.g. +14155550123)';
    case 'whatsapp':
      return E164.test(recipient.replace(/^whatsapp:/, '')) ? undefined : 'not an E.164 phone number (e.g. +14155550123)';
    case 'webhook': {
      if (/^https?:\/\//i.test(recipient)) {
        if (!URL.canParse(recipient)) return 'not a valid URL';
        if (options.privateWebhookUrls === 'refuse' && isPrivateUrl(new URL(recipient))) {
          return 'a private, loopback or otherwise internal address (set WEBHOOK_ALLOW_PRIVATE=true to allow)';
        }
        return undefined;
      }
      if (!TARGET_NAME.test(recipient)) return 'neither an http(s) URL nor a webhook target name';
      if (options.webhookTargets && !options.webhookTargets.has(recipient)) {
        return `unknown webhook target "${recipient}" (configured: ${[...options.webhookTargets].join(', ') || 'none'})`;
      }
      return undefined;
    }
    case 'log':
      return undefined;
  }
}
