import { z } from 'zod';
import { calendarDate, isoInstant } from '../util/iso-time';
import { isValidTimeZone, parseWallTime } from './business-hours';

/** E.164: a plus, a country code that does not start with 0, at most 15 digits in all. */
const phone = z
  .string({ message: 'must be a phone number in E.164 form such as +14155550100' })
  .trim()
  .regex(/^\+[1-9]\d{6,14}$/, { message: 'must be a phone number in E.164 form such as +14155550100' });

const timeZone = z
  .string({ message: 'must be an IANA time zone such as America/New_York' })
  .refine(isValidTimeZone, { message: 'must be an IANA time zone such as America/New_York' });

const id = z.string({ message: 'is required' }).trim().min(1, { message: 'must not be empty' }).max(200, { message: 'is too long' });

export const enqueueCallBody = z.strictObject({
  tenantId: id,
  contactId: id.optional(),
  phone,
  /** The contact's zone; the tenant's when absent. */
  timezone: timeZone.optional(),
  /** Earliest moment to call (ISO 8601 with an offset); now when absent. */
  notBefore: isoInstant.optional(),
  maxAttempts: z.number({ message: 'must be a number' }).int({ message: 'must be a whole number' }).min(1).max(20).optional(),
});
export type EnqueueCallBody = z.infer<typeof enqueueCallBody>;

/** What the telephony side reports about one placed attempt. */
export const callOutcomeBody = z.strictObject({
  outcome: z.enum(['answered', 'completed', 'no-answer', 'busy', 'failed'], {
    message: 'must be answered, completed, no-answer, busy or failed',
  }),
  /** The attempt this outcome is about; a late report for an earlier attempt is refused (409). */
  attempt: z.number({ message: 'must be a number' }).int({ message: 'must be a whole number' }).min(1).optional(),
  providerCallId: z.string().max(200).optional(),
  detail: z.string().max(2000).optional(),
});
export type CallOutcomeBody = z.infer<typeof callOutcomeBody>;

export const CALL_STATUSES = ['queued', 'dialing', 'in-progress', 'completed', 'no-answer', 'busy', 'failed', 'cancelled'] as const;

export const listCallsQuery = z.strictObject({
  status: z.enum(CALL_STATUSES, { message: `must be one of ${CALL_STATUSES.join(', ')}` }).optional(),
  tenantId: id.optional(),
  limit: z.coerce.number({ message: 'must be a number' }).int().min(1).max(1000).default(100),
});

const wallTime = z.string({ message: 'must be a time HH:mm' }).refine((t) => parseWallTime(t) !== undefined, {
  message: 'must be a time HH:mm between 00:00 and 24:00',
});

const interval = z.strictObject({ opens: wallTime, closes: wallTime }).refine((i) => (parseWallTime(i.opens) ?? 0) < (parseWallTime(i.closes) ?? 0), {
  message: 'opens must be before closes (split hours past midnight over two days)',
  path: ['closes'],
});

export const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;

/** A tenant's calling hours and retry policy; PUT replaces all of it at once. */
export const callSettingsBody = z.strictObject({
  hours: z.partialRecord(z.enum(WEEKDAYS, { message: `keys must be ${WEEKDAYS.join(', ')}` }), z.array(interval).max(12)).superRefine((hours, ctx) => {
    for (const [day, list] of Object.entries(hours)) {
      const sorted = [...(list ?? [])].sort((a, b) => parseWallTime(a.opens)! - parseWallTime(b.opens)!);
      for (let i = 1; i < sorted.length; i++) {
        if (parseWallTime(sorted[i]!.opens)! < parseWallTime(sorted[i - 1]!.closes)!) {
          ctx.addIssue({ code: 'custom', path: [day], message: 'intervals must not overlap' });
        }
      }
    }
  }),
  holidays: z.array(calendarDate).max(1000).default([]),
  maxAttempts: z.number({ message: 'must be a number' }).int({ message: 'must be a whole number' }).min(1).max(20).nullable().default(null),
  retrySpacingSeconds: z.number({ message: 'must be a number' }).int({ message: 'must be a whole number' }).min(1).max(604_800).nullable().default(null),
});
export type CallSettingsBody = z.infer<typeof callSettingsBody>;

/** "field.path: message" for every issue, so a 400 names what to fix. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`).join('; ');
}
