import { CronExpressionParser } from 'cron-parser';

/** Wall clock and timers, injectable so tests can drive a timer through a DST night. */
export interface TimerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimerClock: TimerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface CronTimerHandlers {
  /** A fire time reached on time (within the lateness tolerance). */
  fire(fireTime: Date): void;
  /** Fire times that passed while the process could not act on them (event loop blocked, clock step). */
  missed(firstFireTime: Date, count: number): void;
}

/**
 * Longest single sleep. Timers run on the monotonic clock and fire times on the wall clock;
 * waking at least once a second re-reads the wall clock, so a clock step (NTP, a resumed VM) is
 * noticed within a second rather than after a stale timer runs out.
 */
const MAX_SLEEP_MS = 1_000;
/** Bound on fire times enumerated in one wake-up (a per-second job after a day-long stall). */
const MAX_DUE_PER_WAKE = 10_000;

/**
 * Fires a cron schedule in a time zone. Fire times come from cron-parser, which gives the
 * daylight-saving semantics crm-worker promises (docs/calls.md, "Scheduler: daylight-saving
 * semantics"):
 * - a wall time that does not exist (02:30 on a spring-forward night) fires once, shifted past
 *   the gap (03:30), so a daily job is never skipped;
 * - a wall time that occurs twice (01:30 on a fall-back night) fires once, at its first occurrence;
 * - a schedule with a wildcard hour ("0 0 * * * *") fires once per real hour, both 01:00 hours
 *   of a fall-back night included, and never twice in one.
 * The next fire time is always computed after the previous fire time (not after "now"), so a
 * wake-up a little late neither skips nor repeats one; when several are due at once (a stall),
 * the latest runs and the earlier ones are reported missed: jobs are level-triggered.
 */
export class CronTimer {
  private timer: unknown;
  private next: Date | null = null;
  /** The fire time `next` was computed after (the last one handled, or the start instant). */
  private previous: Date | null = null;
  private running = false;

  constructor(
    private readonly schedule: string,
    private readonly timezone: string,
    private readonly handlers: CronTimerHandlers,
    private readonly options: { lateToleranceMs: number; clock?: TimerClock },
  ) {}

  private get clock(): TimerClock {
    return this.options.clock ?? systemTimerClock;
  }

  start(): void {
    this.running = true;
    this.previous = new Date(this.clock.now());
    this.next = this.fireTimeAfter(this.previous);
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The next fire time, or null once stopped or when the schedule has no more. */
  nextRun(): Date | null {
    return this.running ? this.next : null;
  }

  private fireTimeAfter(date: Date): Date | null {
    const expression = CronExpressionParser.parse(this.schedule, { currentDate: date, tz: this.timezone });
    return expression.hasNext() ? expression.next().toDate() : null;
  }

  private arm(): void {
    if (!this.running || this.next === null) return;
    const waitMs = Math.min(Math.max(this.next.getTime() - this.clock.now(), 0), MAX_SLEEP_MS);
    this.timer = this.clock.setTimeout(() => this.wake(), waitMs);
  }

  private wake(): void {
    this.timer = undefined;
    if (!this.running || this.next === null) return;
    const now = this.clock.now();
    if (this.previous !== null && now < this.previous.getTime()) {
      // The wall clock stepped back behind the last fire time: waiting for `next` would stall
      // for the size of the step. Go on from the new now; a tick that already ran is refused by
      // the fence, and the lease holder's catch-up keeps the job on the database's clock.
      // (1 ms back, so a fire time at this very instant is due at once.)
      this.previous = new Date(now - 1);
      this.next = this.fireTimeAfter(this.previous);
      return this.arm();
    }
    if (now < this.next.getTime()) return this.arm();

    // One iterator walks every fire time due by now: the latest runs, the earlier ones were missed.
    const firstDue = this.next;
    let latest = this.next;
    let earlier = 0;
    let following: Date | null = null;
    const due = CronExpressionParser.parse(this.schedule, { currentDate: latest, tz: this.timezone });
    while (due.hasNext()) {
      const candidate = due.next().toDate();
      if (candidate.getTime() > now) {
        following = candidate;
        break;
      }
      earlier++;
      latest = candidate;
      // The rest of a very long stall is handled by the next wake-up, at once.
      if (earlier >= MAX_DUE_PER_WAKE) break;
    }
    const late = now - latest.getTime() > this.options.lateToleranceMs;
    const missed = earlier + (late ? 1 : 0);
    this.previous = latest;
    this.next = following ?? this.fireTimeAfter(latest);
    if (missed > 0) this.handlers.missed(firstDue, missed);
    if (!late) this.handlers.fire(latest);
    this.arm();
  }
}
