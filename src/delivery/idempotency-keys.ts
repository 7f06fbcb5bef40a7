import { createHash } from 'node:crypto';
import type { ValidScheduleRequest } from './schedule-request';

/**
 * Idempotency keys are per tenant (unique (tenant_id, idempotency_key), migration 0007). Inside a
 * tenant there are two namespaces: the keys crm-worker makes for itself and the keys callers
 * choose. A caller that could write a key of the first kind would take a message a CRM module
 * schedules later (that contact would then never get its campaign step, and the campaign would
 * never finish), so callers may not use these prefixes, nor the suffix of a recurring series'
 * next occurrence. The prefixes are the formats the modules have always used, so rows already
 * stored keep their keys.
 */
export const SYSTEM_KEY_PREFIXES = [
  'campaign:', // campaign-batch.ts: campaign:<campaign>:<contact>
  'nurture:', // nurture.ts: nurture:<enrolment>:<step>
  'dunning:', // dunning.ts: dunning:<invoice>:<day>
  'appt:', // appointment-reminders.ts: appt:<appointment>[:v<n>]:<kind>
  'lead-reminder:', // lead-reminder-job.ts: lead-reminder:<lead>:<silent since>:<n>
  'auto-followup:', // auto-followup.ts: auto-followup:<tenant>:<lead>:<delay>s
  'crm-worker:', // kept free for keys of modules yet to come
] as const;

/** outbox/recurrence.ts derives a next occurrence's key as <first key>@r<epoch seconds>. */
const OCCURRENCE_SUFFIX = /@r[0-9]+$/;

/** Why a caller may not use this key, or undefined when it may. */
export function reservedKeyProblem(key: string): string | undefined {
  const prefix = SYSTEM_KEY_PREFIXES.find((p) => key.startsWith(p));
  if (prefix) return `the prefix "${prefix}" is reserved for keys crm-worker makes itself`;
  if (OCCURRENCE_SUFFIX.test(key)) return 'a key ending in "@r<digits>" is reserved for the next occurrences of a recurring message';
  return undefined;
}

/** True for a key crm-worker made itself: a repeat keeps the first row whatever its payload. */
export function isSystemKey(key: string): boolean {
  return reservedKeyProblem(key) !== undefined;
}

/**
 * A digest of what a caller asked for, stored with the row, so that the same key with the same
 * payload is an idempotent repeat and the same key with another payload a conflict. The time is
 * the instant (a local time with a zone and its UTC form are the same request); object keys are
 * sorted so the order a client wrote them in does not matter.
 */
export function requestFingerprint(r: ValidScheduleRequest): string {
  const payload = {
    contactId: r.contactId ?? null,
    leadId: r.leadId ?? null,
    channel: r.channel,
    recipient: r.recipient,
    scheduledAt: r.scheduledAt.getTime(),
    template: r.template,
    subject: r.subject ?? null,
    variables: r.variables ?? {},
    tone: r.tone ?? null,
    type: r.type ?? 'followup',
    // Only when given: a request without it keeps the digest it had before classes existed.
    class: r.class,
    skipIfCompleted: r.skipIfCompleted ?? false,
    actionItemId: r.actionItemId ?? null,
    stopOnReply: r.stopOnReply ?? false,
    personalize: r.personalize ?? false,
    contextHints: r.contextHints ?? null,
    recurrenceIntervalSeconds: r.recurrenceIntervalSeconds ?? null,
  };
  return createHash('sha256').update(canonicalJson(payload)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
