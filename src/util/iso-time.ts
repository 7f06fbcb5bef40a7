import { DateTime } from 'luxon';
import { z } from 'zod';

/**
 * The one reader of times sent to crm-worker's API, shared by every module, so that "a time"
 * means the same on every route. A time is an ISO 8601 instant with its offset written out;
 * anything else is the caller's mistake and is refused rather than guessed at: `null`, `0` and
 * `true` used to become 1970 (a campaign then went out at once), and "2026-02-30" used to roll
 * over into March.
 */

/** The years a time may fall in. Nothing crm-worker schedules or records lies before the Unix
 * epoch (a coerced null or 0 lands exactly there), and five-digit years are not ISO 8601's
 * basic form, nor anything a CRM means. */
export const MIN_YEAR = 1970;
export const MAX_YEAR = 9999;
/** No zone on Earth is further from UTC than 14 hours (Kiribati +14:00, Baker Island -12:00). */
const MAX_OFFSET_MINUTES = 14 * 60;

const DATE = String.raw`(\d{4})-(\d{2})-(\d{2})`;
const WALL_TIME = String.raw`(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?`;
const OFFSET = String.raw`(Z|[+-](\d{2}):(\d{2}))`;
const INSTANT = new RegExp(`^${DATE}T${WALL_TIME}${OFFSET}$`, 'i');
const LOCAL_DATE_TIME = new RegExp(`^${DATE}T${WALL_TIME}$`, 'i');
const CALENDAR_DATE = new RegExp(`^${DATE}$`);

export const INSTANT_HINT = 'an ISO 8601 time with an offset, such as 2026-11-24T09:00:00Z or 2026-11-24T09:00:00+01:00';
export const CALENDAR_DATE_HINT = 'a calendar date YYYY-MM-DD that exists, such as 2026-11-24';

/** Why these fields are not a time that exists, or undefined when they are one. */
function calendarProblem(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): string | undefined {
  if (year < MIN_YEAR || year > MAX_YEAR) return `year ${year} is out of range (${MIN_YEAR}-${MAX_YEAR})`;
  // Luxon reads 24:00 as the next midnight (ISO 8601 allows it); a CRM caller never means that.
  if (hour > 23 || minute > 59 || second > 59) return 'is not a clock time that exists (hours 00-23, minutes and seconds 00-59)';
  const valid = DateTime.fromObject({ year, month, day, hour, minute, second }, { zone: 'UTC' }).isValid;
  if (!valid) return 'is not a date and time that exists (check the month, day and hour)';
  return undefined;
}

/** The instant `value` names (ISO 8601 with Z or ±hh:mm), or a message saying what is wrong. */
export function parseIsoInstant(value: unknown): { value: Date } | { problem: string } {
  if (typeof value !== 'string') return { problem: `must be ${INSTANT_HINT}` };
  const match = INSTANT.exec(value);
  if (!match) {
    const noOffset = LOCAL_DATE_TIME.test(value) || CALENDAR_DATE.test(value);
    return { problem: noOffset ? `needs a UTC offset (Z or ±hh:mm): ${INSTANT_HINT}` : `must be ${INSTANT_HINT}` };
  }
  const [, y, mo, d, h, mi, s, , offsetHours, offsetMinutes] = match;
  const problem = calendarProblem(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s ?? 0));
  if (problem) return { problem };
  if (offsetHours !== undefined && (Number(offsetMinutes) > 59 || Number(offsetHours) * 60 + Number(offsetMinutes) > MAX_OFFSET_MINUTES)) {
    return { problem: 'has an offset out of range (at most ±14:00)' };
  }
  const parsed = DateTime.fromISO(value, { setZone: true });
  if (!parsed.isValid) return { problem: `must be ${INSTANT_HINT}` };
  const utcYear = parsed.toUTC().year;
  if (utcYear < MIN_YEAR || utcYear > MAX_YEAR) return { problem: `year ${utcYear} (UTC) is out of range (${MIN_YEAR}-${MAX_YEAR})` };
  return { value: parsed.toJSDate() };
}

/**
 * A wall-clock time without an offset in an IANA zone ("2026-11-24T09:00" in Europe/Berlin),
 * for the routes that document a separate `timezone` field; an instant with an offset is
 * taken as it is. The zone must already be known to be valid.
 */
export function parseZonedTime(value: unknown, zone: string): { value: Date } | { problem: string } {
  if (typeof value === 'string') {
    const match = LOCAL_DATE_TIME.exec(value);
    if (match) {
      const [, y, mo, d, h, mi, s] = match;
      const problem = calendarProblem(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s ?? 0));
      if (problem) return { problem };
      const parsed = DateTime.fromISO(value, { zone });
      if (!parsed.isValid) return { problem: `must be ${INSTANT_HINT}, or a local time 2026-11-24T09:00 with timezone` };
      return { value: parsed.toJSDate() };
    }
  }
  const instant = parseIsoInstant(value);
  if ('problem' in instant) return { problem: `${instant.problem}, or a local time such as 2026-11-24T09:00 with timezone` };
  return instant;
}

/** True when `value` is a YYYY-MM-DD date that exists in a year crm-worker accepts. */
export function isCalendarDate(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const match = CALENDAR_DATE.exec(value);
  return match !== null && calendarProblem(Number(match[1]), Number(match[2]), Number(match[3])) === undefined;
}

/** zod schema of a time field: the ISO 8601 string in, a Date out, or an issue naming the problem. */
export const isoInstant = z.string({ error: `must be ${INSTANT_HINT}` }).transform((value, ctx): Date => {
  const parsed = parseIsoInstant(value);
  if ('value' in parsed) return parsed.value;
  ctx.addIssue({ code: 'custom', message: parsed.problem });
  return z.NEVER;
});

/** zod schema of a calendar date field (KPI dates, holidays): kept as the YYYY-MM-DD string. */
export const calendarDate = z.string({ error: `must be ${CALENDAR_DATE_HINT}` }).refine(isCalendarDate, { message: `must be ${CALENDAR_DATE_HINT}` });
