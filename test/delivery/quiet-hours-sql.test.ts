import { DateTime } from 'luxon';
import type { Database } from '../../src/db/database';
import { openScratchDatabase, type ScratchDatabase } from '../support/harness';

/**
 * The quiet-hours window as the database evaluates it (quiet_hours_end, migration 0040, which the
 * dispatcher's claim calls with now()), against injected instants around both 2026 daylight-saving
 * changes of America/New_York and Australia/Lord_Howe (a 30-minute shift) and in Asia/Kolkata (no
 * DST), on PostgreSQL and on PGlite. The expected answers come from luxon, written out here
 * independently: an instant is inside when its wall-clock time in the zone is in [starts, ends)
 * (crossing midnight when starts > ends), and the window ends at the first instant whose
 * wall-clock time is outside.
 */
const MINUTE = 60_000;

interface Case {
  zone: string;
  /** Local day of the change (or any day for Kolkata): the test walks from the evening before. */
  night: string;
  starts: string;
  ends: string;
}

// The windows that matter: the usual 21:00-08:00, and ones whose end falls into the skipped or
// the repeated wall-clock time of the change night.
const CASES: Case[] = [
  { zone: 'America/New_York', night: '2026-03-08', starts: '21:00', ends: '08:00' },
  { zone: 'America/New_York', night: '2026-03-08', starts: '22:00', ends: '02:30' }, // 02:30 does not exist
  { zone: 'America/New_York', night: '2026-11-01', starts: '21:00', ends: '08:00' },
  { zone: 'America/New_York', night: '2026-11-01', starts: '23:00', ends: '01:30' }, // 01:30 happens twice
  { zone: 'America/New_York', night: '2026-11-01', starts: '01:15', ends: '01:45' }, // the window happens twice
  { zone: 'America/New_York', night: '2026-11-01', starts: '01:30', ends: '02:00' }, // turning back leaves it at 01:00
  { zone: 'Australia/Lord_Howe', night: '2026-10-04', starts: '21:00', ends: '08:00' },
  { zone: 'Australia/Lord_Howe', night: '2026-10-04', starts: '22:00', ends: '02:15' }, // 02:00-02:30 skipped
  { zone: 'Australia/Lord_Howe', night: '2026-04-05', starts: '21:00', ends: '08:00' },
  { zone: 'Australia/Lord_Howe', night: '2026-04-05', starts: '23:00', ends: '01:45' }, // 01:30-02:00 twice
  { zone: 'Australia/Lord_Howe', night: '2026-04-05', starts: '01:45', ends: '02:30' }, // turning back leaves it at 01:30
  { zone: 'Asia/Kolkata', night: '2026-03-08', starts: '21:00', ends: '08:00' },
  { zone: 'Asia/Kolkata', night: '2026-11-01', starts: '09:30', ends: '18:00' }, // a daytime window
];

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

function inside(t: number, c: Case): boolean {
  const local = DateTime.fromMillis(t, { zone: c.zone });
  const m = local.hour * 60 + local.minute;
  const [s, e] = [minutesOf(c.starts), minutesOf(c.ends)];
  return s < e ? m >= s && m < e : m >= s || m < e;
}

/** Every 7 minutes and 13 seconds (so every wall-clock minute's offset is met) over 40 hours. */
function instantsAround(c: Case): number[] {
  const out: number[] = [];
  for (let t = walkStart(c); t < walkStart(c) + 40 * 3_600_000; t += 7 * MINUTE + 13_000) out.push(t);
  return out;
}

const walkStart = (c: Case): number => DateTime.fromISO(`${c.night}T12:00`, { zone: c.zone }).minus({ days: 1 }).toMillis();

/**
 * Windows and changes are on whole minutes: the end of an instant inside is the first whole
 * minute after it that is outside. Walked once backwards over a minute grid covering the walk.
 */
function expectedEnds(c: Case): (t: number) => number | null {
  const from = walkStart(c);
  const minutes = (40 + 26) * 60;
  const nextOutside = new Array<number>(minutes + 1);
  nextOutside[minutes] = Number.NaN;
  for (let i = minutes - 1; i >= 0; i--) {
    const m = from + i * MINUTE;
    nextOutside[i] = inside(m, c) ? nextOutside[i + 1]! : m;
  }
  return (t) => (inside(t, c) ? nextOutside[Math.floor((t - from) / MINUTE) + 1]! : null);
}

describe.each(['postgres', 'pglite'] as const)('quiet hours in the database on %s', (kind) => {
  let scratch: ScratchDatabase;
  let db: Database;
  beforeAll(async () => {
    scratch = await openScratchDatabase(kind);
    db = scratch.db;
  });
  afterAll(async () => scratch.close());

  async function endsFor(instants: number[], c: Case): Promise<Array<number | null>> {
    const result = await db.query<{ ends: Date | null }>(
      `SELECT quiet_hours_end(x.at, $2, $3::time, $4::time) AS ends FROM unnest($1::timestamptz[]) WITH ORDINALITY AS x(at, n) ORDER BY x.n`,
      [instants.map((t) => new Date(t).toISOString()), c.zone, c.starts, c.ends],
    );
    return result.rows.map((r) => (r.ends === null ? null : new Date(r.ends).getTime()));
  }

  it.each(CASES)('$zone $starts-$ends on the night of $night: the window end of every instant', async (c) => {
    const instants = instantsAround(c);
    const expectedEnd = expectedEnds(c);
    const got = await endsFor(instants, c);
    const mismatches = instants
      .map((t, i) => ({ at: new Date(t).toISOString(), got: got[i] === null ? null : new Date(got[i]!).toISOString(), want: expectedEnd(t) }))
      .map((r) => ({ ...r, want: r.want === null ? null : new Date(r.want).toISOString() }))
      .filter((r) => r.got !== r.want);
    expect(mismatches).toEqual([]);
    // The walk really went through the window (on the change night and the one before).
    expect(got.filter((e) => e !== null).length).toBeGreaterThan(5);
  });

  it.each(CASES)('$zone $starts-$ends on the night of $night: a held message is due once, at the end, outside the window', async (c) => {
    const instants = instantsAround(c).filter((t) => inside(t, c));
    const ends = await endsFor(instants, c);
    // At its end the message is claimed again: the window must not hold it a second time.
    const again = await endsFor(
      ends.map((e) => e!),
      c,
    );
    expect(again.every((e) => e === null)).toBe(true);
    for (const [i, end] of ends.entries()) {
      expect(inside(end!, c)).toBe(false);
      expect(inside(end! - 1_000, c)).toBe(true);
      expect(end!).toBeGreaterThan(instants[i]!);
    }
  });

  it('the change nights hold for as long as the wall clock says', async () => {
    // 21:00-08:00 is 12 h of real time on New York's spring night, 10 h on its autumn night, 10.5 h
    // and 11.5 h on Lord Howe's; Kolkata's is always 11 h.
    const spans: Array<[string, string, number]> = [
      ['America/New_York', '2026-03-07', 10],
      ['America/New_York', '2026-10-31', 12],
      ['Australia/Lord_Howe', '2026-10-03', 10.5],
      ['Australia/Lord_Howe', '2026-04-04', 11.5],
      ['Asia/Kolkata', '2026-03-07', 11],
    ];
    for (const [zone, evening, hours] of spans) {
      const start = DateTime.fromISO(`${evening}T21:00`, { zone }).toMillis();
      const [end] = await endsFor([start], { zone, night: evening, starts: '21:00', ends: '08:00' });
      expect({ zone, hours: (end! - start) / 3_600_000 }).toEqual({ zone, hours });
    }
  });

  it('a zone the server does not know is read as UTC instead of failing the claim', async () => {
    const at = Date.parse('2026-06-01T23:00:00Z');
    const [end] = await endsFor([at], { zone: 'Mars/Olympus', night: '', starts: '21:00', ends: '08:00' });
    expect(new Date(end!).toISOString()).toBe('2026-06-02T08:00:00.000Z');
  });
});
