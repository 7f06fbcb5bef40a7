import fc from 'fast-check';
import { DateTime } from 'luxon';
import { isOpenAt, nextOpenSlot, type BusinessHours } from '../../src/calls/business-hours';

const NY = 'America/New_York';
const KOLKATA = 'Asia/Kolkata';

function hours(spec: Record<number, Array<[string, string]>>, holidays: string[] = []): BusinessHours {
  const toMinute = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
  return {
    weekly: new Map(Object.entries(spec).map(([day, list]) => [Number(day), list.map(([o, c]) => ({ opensMinute: toMinute(o), closesMinute: toMinute(c) }))])),
    holidays: new Set(holidays),
  };
}

const everyDay = (list: Array<[string, string]>) => hours(Object.fromEntries([1, 2, 3, 4, 5, 6, 7].map((d) => [d, list])));
const at = (iso: string) => new Date(iso);
const local = (d: Date | null, zone: string) => (d ? DateTime.fromJSDate(d, { zone }).toFormat('yyyy-MM-dd HH:mm ZZ') : null);

/** The slot by brute force: the first whole minute (or `after` itself) at which the hours are open. */
function bruteForceSlot(after: Date, h: BusinessHours, zone: string, limitMinutes = 20 * 1440): Date | null {
  if (isOpenAt(after, h, zone)) return after;
  let t = Math.ceil(after.getTime() / 60_000) * 60_000;
  for (let i = 0; i < limitMinutes; i++, t += 60_000) if (isOpenAt(new Date(t), h, zone)) return new Date(t);
  return null;
}

describe('business hours in America/New_York across the 2026 daylight-saving changes', () => {
  const nineToFive = everyDay([['09:00', '17:00']]);

  it('opens at 09:00 local on both sides of the spring-forward night (offset -05:00, then -04:00)', () => {
    // Saturday 2026-03-07 18:00 EST: closed; the next slot is Sunday 09:00 EDT = 13:00Z.
    const slot = nextOpenSlot(at('2026-03-07T23:00:00Z'), nineToFive, NY);
    expect(slot?.toISOString()).toBe('2026-03-08T13:00:00.000Z');
    expect(local(slot, NY)).toBe('2026-03-08 09:00 -04:00');
    // 08:30 EST on Saturday is 13:30Z; the same UTC instant on Sunday is 09:30 EDT and open.
    expect(isOpenAt(at('2026-03-07T13:30:00Z'), nineToFive, NY)).toBe(false);
    expect(isOpenAt(at('2026-03-08T13:30:00Z'), nineToFive, NY)).toBe(true);
    // 16:59 EDT open, 17:00 EDT closed.
    expect(isOpenAt(at('2026-03-08T20:59:00Z'), nineToFive, NY)).toBe(true);
    expect(isOpenAt(at('2026-03-08T21:00:00Z'), nineToFive, NY)).toBe(false);
  });

  it('opens at 09:00 local on both sides of the fall-back night (offset -04:00, then -05:00)', () => {
    const slot = nextOpenSlot(at('2026-10-31T22:00:00Z'), nineToFive, NY);
    expect(local(slot, NY)).toBe('2026-11-01 09:00 -05:00');
    expect(slot?.toISOString()).toBe('2026-11-01T14:00:00.000Z');
    expect(isOpenAt(at('2026-11-01T13:30:00Z'), nineToFive, NY)).toBe(false); // 08:30 EST
    expect(isOpenAt(at('2026-10-31T13:30:00Z'), nineToFive, NY)).toBe(true); // 09:30 EDT
  });

  it('an opening inside the skipped hour opens when the clock jumps (03:00 EDT), not an hour late', () => {
    const night = everyDay([['02:30', '04:00']]);
    const slot = nextOpenSlot(at('2026-03-08T05:00:00Z'), night, NY); // 00:00 EST
    expect(local(slot, NY)).toBe('2026-03-08 03:00 -04:00');
    // Hours lying wholly inside the gap do not exist that day: the next slot is the next night.
    const inGap = everyDay([['02:10', '02:50']]);
    expect(local(nextOpenSlot(at('2026-03-08T05:00:00Z'), inGap, NY), NY)).toBe('2026-03-09 02:10 -04:00');
  });

  it('an opening inside the repeated hour opens at its first occurrence (01:30 EDT)', () => {
    const night = everyDay([['01:30', '03:00']]);
    const slot = nextOpenSlot(at('2026-11-01T04:00:00Z'), night, NY); // 00:00 EDT
    expect(local(slot, NY)).toBe('2026-11-01 01:30 -04:00');
    // Hours follow the wall clock: when it falls back to 01:00 EST, 01:15 is before the opening
    // again (closed) and 01:45 is inside it (open).
    expect(isOpenAt(at('2026-11-01T06:15:00Z'), night, NY)).toBe(false);
    expect(isOpenAt(at('2026-11-01T06:45:00Z'), night, NY)).toBe(true);
  });

  it('skips holidays and closed weekdays', () => {
    const weekdays = hours({ 1: [['09:00', '17:00']], 2: [['09:00', '17:00']] }, ['2026-03-09']);
    // Friday evening → Monday is a holiday → Tuesday 09:00 EDT.
    expect(local(nextOpenSlot(at('2026-03-06T23:00:00Z'), weekdays, NY), NY)).toBe('2026-03-10 09:00 -04:00');
  });

  it('returns null when the tenant has no hours at all', () => {
    expect(nextOpenSlot(at('2026-03-06T23:00:00Z'), hours({}), NY)).toBeNull();
  });
});

describe('business hours in Asia/Kolkata (no daylight saving, +05:30)', () => {
  it('opens at 09:00 IST = 03:30Z every day, whatever New York does', () => {
    const h = everyDay([
      ['09:00', '13:00'],
      ['14:00', '18:00'],
    ]);
    for (const day of ['2026-03-07', '2026-03-08', '2026-03-09', '2026-10-31', '2026-11-01', '2026-11-02']) {
      const slot = nextOpenSlot(new Date(`${day}T00:00:00Z`), h, KOLKATA);
      expect(slot?.toISOString()).toBe(`${day}T03:30:00.000Z`);
    }
    // Lunch break: 13:30 IST is closed, the slot is 14:00 IST.
    expect(local(nextOpenSlot(at('2026-03-08T08:00:00Z'), h, KOLKATA), KOLKATA)).toBe('2026-03-08 14:00 +05:30');
  });
});

describe('nextOpenSlot where the clock is set back into an interval', () => {
  it('Lord Howe, 5 April 2026 (02:00 +11 becomes 01:30 +10:30): a 01:15-01:45 interval opens again at the switch', () => {
    // The first pass closes at 01:45 +11 (14:45Z); the repeated 01:30-01:45 (+10:30) is 15:00Z-15:15Z.
    // Found by the property below (seed 111011501): the repeated half hour was missed, and the slot
    // given was the next opening wall time (a week later here).
    const sundays = hours({ 7: [['01:15', '01:45']] });
    const slot = nextOpenSlot(at('2026-04-04T14:45:00Z'), sundays, 'Australia/Lord_Howe');
    expect(slot?.toISOString()).toBe('2026-04-04T15:00:00.000Z');
    expect(local(slot, 'Australia/Lord_Howe')).toBe('2026-04-05 01:30 +10:30');
  });
});

describe('nextOpenSlot agrees with a minute-by-minute scan', () => {
  const schedules: Record<string, BusinessHours> = {
    nineToFive: everyDay([['09:00', '17:00']]),
    nights: everyDay([
      ['00:30', '02:45'],
      ['02:50', '03:10'],
      ['23:00', '24:00'],
    ]),
    weekdaysWithHoliday: hours({ 1: [['01:00', '02:30']], 3: [['02:00', '03:00']], 7: [['01:15', '01:45']] }, ['2026-11-02']),
  };

  it.each([NY, KOLKATA, 'Australia/Lord_Howe', 'Europe/London'])('in %s around both 2026 changes', (zone) => {
    const windows = [Date.parse('2026-03-05T00:00:00Z'), Date.parse('2026-10-29T00:00:00Z'), Date.parse('2026-04-02T00:00:00Z')];
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(schedules)),
        fc.constantFrom(...windows),
        fc.integer({ min: 0, max: 6 * 24 * 3600 }),
        (name, start, seconds) => {
          const after = new Date(start + seconds * 1_000);
          const h = schedules[name]!;
          const slot = nextOpenSlot(after, h, zone);
          expect(slot?.toISOString() ?? null).toBe(bruteForceSlot(after, h, zone)?.toISOString() ?? null);
        },
      ),
      { numRuns: 60 },
    );
  });
});
