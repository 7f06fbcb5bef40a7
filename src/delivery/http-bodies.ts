import { IANAZone } from 'luxon';
import { parseIsoInstant, parseZonedTime } from '../util/iso-time';
import type { ScheduleRequest } from './outbox';
import { reservedKeyProblem } from './idempotency-keys';
import { scheduleRequestSchema, traceparentSchema, validateScheduleRequests, type ValidationOptions } from './schedule-request';
import { TRACEPARENT_PROBLEM } from '../observability/traceparent';
import { ValidationError, type FieldIssue } from './validation-error';

/**
 * Reads a time sent over HTTP: ISO 8601 with an offset ("2026-11-24T09:00:00Z"), or a local
 * time with an IANA time zone ({ scheduledAt: "2026-11-24T09:00", timezone: "Europe/Berlin" }),
 * which is how a CRM user thinks of "9 am tomorrow". Both go through the one time parser
 * (util/iso-time), so impossible dates and out-of-range years are refused here as everywhere.
 */
export function parseHttpTime(value: unknown, timezone: unknown, field: string): { value: Date } | { issue: FieldIssue } {
  if (timezone !== undefined && (typeof timezone !== 'string' || !IANAZone.isValidZone(timezone))) {
    return { issue: { field: 'timezone', message: 'not an IANA time zone (e.g. Europe/Berlin)' } };
  }
  const parsed = timezone === undefined ? parseIsoInstant(value) : parseZonedTime(value, timezone as string);
  if ('problem' in parsed) {
    // POST /api/followups and reschedule also take a local time with a timezone field: say so.
    const hint = timezone === undefined && parsed.problem.startsWith('needs a UTC offset') ? ' (or give a timezone field)' : '';
    return { issue: { field, message: parsed.problem + hint } };
  }
  return { value: parsed.value };
}

/** Fields of one message in a POST /api/followups body: the ScheduleRequest's, plus `timezone`. */
const FOLLOWUP_FIELDS = new Set([...Object.keys(scheduleRequestSchema.shape), 'timezone']);

/** Unknown fields of one object, each named as the client sent it (a typo is not silently dropped). */
export function unknownFields(value: Record<string, unknown>, known: ReadonlySet<string>, prefix = ''): FieldIssue[] {
  return Object.keys(value)
    .filter((key) => !known.has(key))
    .map((key) => ({ field: prefix + key, message: 'unknown field' }));
}

/**
 * Turns a POST /api/followups body (one message, or { messages: [...] }) into ScheduleRequests,
 * reporting every problem at once with the field's name as the client sent it.
 */
export function scheduleRequestsFromBody(body: unknown, options: ValidationOptions = {}): ScheduleRequest[] {
  const batch = isObject(body) && Array.isArray(body['messages']);
  const items: unknown[] = batch ? (body as { messages: unknown[] }).messages : [body];
  if (batch && items.length === 0) throw new ValidationError([{ field: 'messages', message: 'must not be empty' }]);
  if (batch && items.length > 10_000) throw new ValidationError([{ field: 'messages', message: 'at most 10000 per request' }]);
  const issues: FieldIssue[] = batch ? unknownFields(body as Record<string, unknown>, new Set(['messages'])) : [];
  // One per body: after a template over a limit, the rest of the body is not rendered.
  const templateCheck = options.templateCheck ?? { limitHit: false };
  const requests = items.map((item, index) => {
    const prefix = batch ? `messages[${index}].` : '';
    if (!isObject(item)) {
      issues.push({ field: batch ? `messages[${index}]` : 'body', message: 'must be a JSON object' });
      return undefined;
    }
    issues.push(...unknownFields(item, FOLLOWUP_FIELDS, prefix));
    const time = parseHttpTime(item['scheduledAt'], item['timezone'], 'scheduledAt');
    const { timezone: _timezone, ...rest } = item;
    // A bad time is reported once; the rest of the request is still checked with a stand-in.
    if ('issue' in time) issues.push({ field: prefix + time.issue.field, message: time.issue.message });
    const request = { ...rest, scheduledAt: 'value' in time ? time.value : new Date(0) } as unknown as ScheduleRequest;
    const reserved = typeof item['idempotencyKey'] === 'string' ? reservedKeyProblem(item['idempotencyKey'].trim()) : undefined;
    if (reserved) issues.push({ field: `${prefix}idempotencyKey`, message: reserved });
    try {
      validateScheduleRequests([request], { ...options, templateCheck });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      issues.push(...err.issues.map((i) => ({ field: prefix + i.field, message: i.message })));
    }
    return request;
  });
  if (issues.length > 0) throw new ValidationError(issues);
  return requests as ScheduleRequest[];
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The W3C `traceparent` request header (Trace Context) given to POST /api/followups or
 * /api/v1/messages: every message of the body that has no `traceparent` field of its own is
 * scheduled with it. A header that is not a traceparent is a 400 naming `traceparent`.
 */
export function withTraceparentHeader(requests: ScheduleRequest[], header: string | undefined): ScheduleRequest[] {
  if (header === undefined) return requests;
  const parsed = traceparentSchema().safeParse(header.trim());
  if (!parsed.success) throw new ValidationError([{ field: 'traceparent', message: `${TRACEPARENT_PROBLEM} (header)` }]);
  return requests.map((r) => (r.traceparent ? r : { ...r, traceparent: parsed.data }));
}
