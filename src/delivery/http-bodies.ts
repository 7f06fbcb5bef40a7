import { DateTime, IANAZone } from 'luxon';
import type { ScheduleRequest } from './outbox';
import { validateScheduleRequests, type ValidationOptions } from './schedule-request';
import { ValidationError, type FieldIssue } from './validation-error';

const HAS_OFFSET = /(Z|[+-]\d{2}(:?\d{2})?)$/i;

/**
 * Reads a time sent over HTTP: ISO 8601 with an offset ("2026-11-24T09:00:00Z"), or a local
 * time with an IANA time zone ({ scheduledAt: "2026-11-24T09:00", timezone: "Europe/Berlin" }),
 * which is how a CRM user thinks of "9 am tomorrow".
 */
export function parseHttpTime(value: unknown, timezone: unknown, field: string): { value: Date } | { issue: FieldIssue } {
  if (timezone !== undefined && (typeof timezone !== 'string' || !IANAZone.isValidZone(timezone))) {
    return { issue: { field: 'timezone', message: 'not an IANA time zone (e.g. Europe/Berlin)' } };
  }
  if (typeof value !== 'string' || value.trim() === '') {
    return { issue: { field, message: 'required: an ISO 8601 time such as 2026-11-24T09:00:00Z' } };
  }
  if (timezone === undefined && !HAS_OFFSET.test(value.trim())) {
    return { issue: { field, message: 'needs a UTC offset (Z or +02:00) or a timezone field' } };
  }
  const parsed = DateTime.fromISO(value.trim(), { zone: (timezone as string | undefined) ?? 'UTC' });
  if (!parsed.isValid) return { issue: { field, message: 'not a valid ISO 8601 time' } };
  return { value: parsed.toJSDate() };
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
  const issues: FieldIssue[] = [];
  const requests = items.map((item, index) => {
    const prefix = batch ? `messages[${index}].` : '';
    if (!isObject(item)) {
      issues.push({ field: batch ? `messages[${index}]` : 'body', message: 'must be a JSON object' });
      return undefined;
    }
    const time = parseHttpTime(item['scheduledAt'], item['timezone'], 'scheduledAt');
    const { timezone: _timezone, ...rest } = item;
    // A bad time is reported once; the rest of the request is still checked with a stand-in.
    if ('issue' in time) issues.push({ field: prefix + time.issue.field, message: time.issue.message });
    const request = { ...rest, scheduledAt: 'value' in time ? time.value : new Date(0) } as unknown as ScheduleRequest;
    try {
      validateScheduleRequests([request], options);
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
