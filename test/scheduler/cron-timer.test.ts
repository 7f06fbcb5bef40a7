import { CronTimer, type TimerClock } from '../../src/scheduler/cron-timer';

/** A wall clock and timer queue that only move when the test says so. */
function fakeClock(startIso: string) {
  let now = Date.parse(startIso);
  let timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let ids = 0;
  const clock: TimerClock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.push({ at: now + ms, fn, id: ++ids });
      return ids;
    },
    clearTimeout: (id) => {
      timers = timers.filter((t) => t.id !== id);
    },
  };
  return {
    clock,
    /** Runs every timer due up to `untilIso`, moving the clock to each one's due time. */
    runUntil(untilIso: string) {
      const until = Date.parse(untilIso);
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.id - b.id);
        const next = timers[0];
        if (!next || next.at > until) break;
        timers.shift();
        now = Math.max(now, next.at);
        next.fn();
      }
      now = until;
    },
    /** The event loop is stuck: the clock moves, no timer runs. */
    block(ms: number) {
      now += ms;
    },
    /** The wall clock steps (NTP, a resumed VM); timers run on the monotonic clock, so each still runs after the time it was set for. */
    step(ms: number) {
      now += ms;
      for (const t of timers) t.at += ms;
    },
  };
}

function run(schedule: string, fromIso: string, untilIso: string, timezone = 'America/New_York') {
  const fake = fakeClock(fromIso);
  const fired: string[] = [];
  const missed: Array<[string, number]> = [];
  const timer = new CronTimer(
    schedule,
    timezone,
    { fire: (t) => fired.push(t.toISOString()), missed: (t, n) => missed.push([t.toISOString(), n]) },
    { lateToleranceMs: 5_000, clock: fake.clock },
  );
  timer.start();
  fake.runUntil(untilIso);
  return { fired, missed, timer, fake };
}

describe('CronTimer across the 2026 daylight-saving changes in America/New_York (injected clock)', () => {
  it('spring forward: hourly once per real hour, a daily 02:30 once at 03:30 EDT, nothing missed', () => {
    const hourly = run('0 0 * * * *', '2026-03-07T23:50:00Z', '2026-03-08T09:10:00Z');
    expect(hourly.fired).toEqual([
      '2026-03-08T00:00:00.000Z',
      '2026-03-08T01:00:00.000Z',
      '2026-03-08T02:00:00.000Z',
      '2026-03-08T03:00:00.000Z',
      '2026-03-08T04:00:00.000Z',
      '2026-03-08T05:00:00.000Z', // 00:00 EST
      '2026-03-08T06:00:00.000Z', // 01:00 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT: the 02:00 hour does not exist
      '2026-03-08T08:00:00.000Z',
      '2026-03-08T09:00:00.000Z',
    ]);
    const daily = run('0 30 2 * * *', '2026-03-06T12:00:00Z', '2026-03-10T12:00:00Z');
    expect(daily.fired).toEqual(['2026-03-07T07:30:00.000Z', '2026-03-08T07:30:00.000Z', '2026-03-09T06:30:00.000Z', '2026-03-10T06:30:00.000Z']);
    expect([...hourly.missed, ...daily.missed]).toEqual([]);
  });

  it('fall back: hourly in both 01:00 hours, a daily 01:30 once (01:30 EDT), nothing missed', () => {
    const hourly = run('0 0 * * * *', '2026-11-01T03:50:00Z', '2026-11-01T08:10:00Z');
    expect(hourly.fired).toEqual([
      '2026-11-01T04:00:00.000Z', // 00:00 EDT
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T06:00:00.000Z', // 01:00 EST
      '2026-11-01T07:00:00.000Z', // 02:00 EST
      '2026-11-01T08:00:00.000Z',
    ]);
    const daily = run('0 30 1 * * *', '2026-10-30T12:00:00Z', '2026-11-03T12:00:00Z');
    expect(daily.fired).toEqual(['2026-10-31T05:30:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z', '2026-11-03T06:30:00.000Z']);
    expect([...hourly.missed, ...daily.missed]).toEqual([]);
  });

  it('in Asia/Kolkata nothing moves: a daily 02:30 IST fires every day at 21:00Z', () => {
    const daily = run('0 30 2 * * *', '2026-03-06T12:00:00Z', '2026-03-10T12:00:00Z', 'Asia/Kolkata');
    expect(daily.fired).toEqual(['2026-03-06T21:00:00.000Z', '2026-03-07T21:00:00.000Z', '2026-03-08T21:00:00.000Z', '2026-03-09T21:00:00.000Z']);
  });

  it('a blocked event loop: the latest due fire time runs, the earlier ones are counted missed, none twice', () => {
    const fake = fakeClock('2026-03-08T06:59:59.500Z');
    const fired: string[] = [];
    const missed: Array<[string, number]> = [];
    const timer = new CronTimer(
      '* * * * * *',
      'America/New_York',
      { fire: (t) => fired.push(t.toISOString()), missed: (t, n) => missed.push([t.toISOString(), n]) },
      { lateToleranceMs: 5_000, clock: fake.clock },
    );
    timer.start();
    fake.runUntil('2026-03-08T07:00:01.000Z');
    fake.block(3_500);
    fake.runUntil('2026-03-08T07:00:06.000Z');
    expect(fired).toEqual([
      '2026-03-08T07:00:00.000Z',
      '2026-03-08T07:00:01.000Z',
      '2026-03-08T07:00:04.000Z', // woke at 04.5: 02 and 03 missed
      '2026-03-08T07:00:05.000Z',
      '2026-03-08T07:00:06.000Z',
    ]);
    expect(missed).toEqual([['2026-03-08T07:00:02.000Z', 2]]);
    // Blocked past the tolerance: nothing due is run late.
    fake.block(8_000);
    fake.runUntil('2026-03-08T07:00:14.200Z');
    expect(fired.slice(5)).toEqual(['2026-03-08T07:00:14.000Z']);
    expect(missed[1]).toEqual(['2026-03-08T07:00:07.000Z', 7]);
    timer.stop();
    expect(timer.nextRun()).toBeNull();
  });

  it('a day-long stall of a per-second job: counted missed in bounded steps, then back on time', () => {
    const fake = fakeClock('2026-03-08T00:00:00.500Z');
    const fired: string[] = [];
    let missed = 0;
    const timer = new CronTimer(
      '* * * * * *',
      'America/New_York',
      { fire: (t) => fired.push(t.toISOString()), missed: (_t, n) => (missed += n) },
      {
        lateToleranceMs: 5_000,
        clock: fake.clock,
      },
    );
    timer.start();
    fake.runUntil('2026-03-08T00:00:01.000Z');
    fake.block(86_400_000);
    fake.runUntil('2026-03-09T00:00:03.000Z');
    // 00:00:02 on the 8th up to 00:00:00 on the 9th were missed; 00:00:01 on the 9th ran (within tolerance).
    expect(missed).toBe(86_399);
    expect(fired).toEqual(['2026-03-08T00:00:01.000Z', '2026-03-09T00:00:01.000Z', '2026-03-09T00:00:02.000Z', '2026-03-09T00:00:03.000Z']);
  });

  it('a wall clock stepped back goes on from the new time: no stall; a repeated fire time is for the fence to refuse', () => {
    const fake = fakeClock('2026-11-01T05:59:58Z');
    const fired: string[] = [];
    const timer = new CronTimer(
      '0 0 * * * *',
      'America/New_York',
      { fire: (t) => fired.push(t.toISOString()), missed: () => undefined },
      {
        lateToleranceMs: 5_000,
        clock: fake.clock,
      },
    );
    timer.start();
    fake.runUntil('2026-11-01T06:00:01Z');
    expect(fired).toEqual(['2026-11-01T06:00:00.000Z']);
    fake.step(-30_000); // NTP steps the clock back 30 s
    fake.runUntil('2026-11-01T07:00:01Z');
    // 06:00 comes again on the stepped clock (the job_runs fence refuses a second run of it).
    expect(fired).toEqual(['2026-11-01T06:00:00.000Z', '2026-11-01T06:00:00.000Z', '2026-11-01T07:00:00.000Z']);
  });

  it('a wall clock stepped back by an hour does not stall a per-second schedule for that hour', () => {
    const fake = fakeClock('2026-03-10T12:00:00.500Z');
    const fired: string[] = [];
    const timer = new CronTimer(
      '* * * * * *',
      'UTC',
      { fire: (t) => fired.push(t.toISOString()), missed: () => undefined },
      {
        lateToleranceMs: 5_000,
        clock: fake.clock,
      },
    );
    timer.start();
    fake.runUntil('2026-03-10T12:00:02.000Z');
    expect(fired).toEqual(['2026-03-10T12:00:01.000Z', '2026-03-10T12:00:02.000Z']);
    fake.step(-3_600_000);
    fake.runUntil('2026-03-10T11:00:05.000Z');
    expect(fired.slice(2)).toEqual(['2026-03-10T11:00:03.000Z', '2026-03-10T11:00:04.000Z', '2026-03-10T11:00:05.000Z']);
    timer.stop();
  });
});
