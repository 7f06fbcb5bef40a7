import { DateTime, IANAZone } from 'luxon';

/** One opening interval of a weekday, as wall-clock minutes after local midnight: [opens, closes). */
export interface OpeningInterval {
  readonly opensMinute: number;
  readonly closesMinute: number;
}

/**
 * A tenant's calling hours. Weekdays are ISO (1 = Monday … 7 = Sunday); holidays are local dates
 * (yyyy-MM-dd). Everything is read as wall-clock time in the zone the check is made for (the
 * contact's), so "09:00-17:00" means nine to five where the phone rings, summer and winter.
 */
export interface BusinessHours {
  readonly weekly: ReadonlyMap<number, readonly OpeningInterval[]>;
  readonly holidays: ReadonlySet<string>;
}

/** How far ahead nextOpenSlot looks before giving up (a tenant with no hours, a year of holidays). */
const SEARCH_DAYS = 400;

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/** "HH:mm" → minutes after midnight; "24:00" is allowed as a closing time. */
export function parseWallTime(text: string): number | undefined {
  const match = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(text);
  if (!match) return undefined;
  const minutes = Number(match[1]) * 60 + Number(match[2]);
  return minutes <= 24 * 60 ? minutes : undefined;
}

export function formatWallTime(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/**
 * True when `instant` falls inside an opening interval of its local weekday in `zone` and its
 * local date is not a holiday. On a spring-forward day an interval opening inside the skipped
 * hour is open from the first instant whose wall time is past the opening (03:00 for 02:30);
 * in the repeated autumn hour both passes through a wall time count as that wall time.
 */
export function isOpenAt(instant: Date, hours: BusinessHours, zone: string): boolean {
  const local = DateTime.fromJSDate(instant, { zone });
  if (!local.isValid) throw new Error(`invalid time zone "${zone}"`);
  if (hours.holidays.has(local.toISODate()!)) return false;
  const minute = local.hour * 60 + local.minute;
  return (hours.weekly.get(local.weekday) ?? []).some((i) => minute >= i.opensMinute && minute < i.closesMinute);
}

/**
 * The earliest instant at or after `after` at which isOpenAt holds, or null when none exists
 * within SEARCH_DAYS. Exact to the millisecond: a call due at 08:59:30 waits until 09:00:00.
 * An open spell starts at an opening wall time (each time it occurs: twice in a repeated autumn
 * hour), at the end of a spring gap, or where the clock is set back into an interval (Lord Howe's
 * 02:00 → 01:30 reopens a 01:15-01:45 interval that closed half an hour earlier).
 */
export function nextOpenSlot(after: Date, hours: BusinessHours, zone: string): Date | null {
  if (isOpenAt(after, hours, zone)) return after;
  const start = DateTime.fromJSDate(after, { zone }).startOf('day');
  for (let day = 0; day < SEARCH_DAYS; day++) {
    const date = start.plus({ days: day });
    if (hours.holidays.has(date.toISODate()!)) continue;
    const intervals = hours.weekly.get(date.weekday) ?? [];
    if (intervals.length === 0) continue;
    const candidates = [...intervals.flatMap((interval) => instantsAtOrPastWallTime(date, interval.opensMinute, zone)), ...offsetTransitionsOn(date, zone)]
      .filter((t) => t.getTime() > after.getTime())
      .sort((a, b) => a.getTime() - b.getTime());
    // An interval lying wholly in a skipped hour does not exist that day.
    const open = candidates.find((t) => isOpenAt(t, hours, zone));
    if (open) return open;
  }
  return null;
}

/** Instants of local `date` at which the zone's offset changes (a DST switch), to the second. */
function offsetTransitionsOn(date: DateTime, zone: string): Date[] {
  let low = date.startOf('day').toMillis();
  let high = date.plus({ days: 1 }).startOf('day').toMillis() - 1;
  const offsetAt = (t: number) => DateTime.fromMillis(t, { zone }).offset;
  if (offsetAt(low) === offsetAt(high)) return [];
  const before = offsetAt(low);
  while (high - low > 1_000) {
    const mid = Math.floor((low + high) / 2 / 1_000) * 1_000;
    if (offsetAt(mid) === before) low = mid;
    else high = mid;
  }
  return [new Date(high)];
}

/**
 * The first instant of local `date` whose wall time is at or past `minute`. Usually the wall
 * time itself; for a wall time that occurs twice (autumn) the earlier one; for one that does not
 * occur (spring) the end of the gap. Luxon alone resolves both ambiguities differently (it
 * shifts gap times forward by the gap and picks the later of two), hence this function.
 */
export function firstInstantAtOrPastWallTime(date: DateTime, minute: number, zone: string): Date | null {
  const instants = instantsAtOrPastWallTime(date, minute, zone);
  return instants[0] ?? null;
}

/**
 * Every instant of local `date` whose wall time is `minute` (two in a repeated autumn hour,
 * earlier first), or, for a wall time that does not occur (spring), the end of the gap.
 */
function instantsAtOrPastWallTime(date: DateTime, minute: number, zone: string): Date[] {
  const wanted = wallKey(date.year, date.month, date.day, minute);
  // Wall time read as if it were UTC; subtracting each offset in force around it gives candidates.
  const wallAsUtc = Date.UTC(date.year, date.month - 1, date.day, Math.floor(minute / 60), minute % 60);
  const offsets = new Set([-36, -12, 0, 12, 36].map((hours) => DateTime.fromMillis(wallAsUtc + hours * 3_600_000, { zone }).offset));
  const candidates = [...offsets].map((offset) => wallAsUtc - offset * 60_000);
  const exact = [...new Set(candidates.filter((t) => localKey(t, zone) === wanted))].sort((a, b) => a - b);
  if (exact.length > 0) return exact.map((t) => new Date(t));
  // In a gap: binary-search the transition, where wall time jumps past `wanted`.
  const past = candidates.filter((t) => localKey(t, zone) > wanted);
  if (past.length === 0) return [];
  let high = Math.min(...past);
  let low = high - 26 * 3_600_000;
  if (localKey(low, zone) >= wanted) return [];
  while (high - low > 1_000) {
    const mid = Math.floor((low + high) / 2 / 1_000) * 1_000;
    if (localKey(mid, zone) >= wanted) high = mid;
    else low = mid;
  }
  const found = new Date(high);
  return DateTime.fromJSDate(found, { zone }).toISODate() === date.toISODate() ? [found] : [];
}

function wallKey(year: number, month: number, day: number, minute: number): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(Math.floor(minute / 60))}:${pad(minute % 60)}:00`;
}

function localKey(millis: number, zone: string): string {
  return DateTime.fromMillis(millis, { zone }).toFormat("yyyy-MM-dd'T'HH:mm:ss");
}
