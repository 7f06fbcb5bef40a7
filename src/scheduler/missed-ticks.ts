import { CronExpressionParser } from 'cron-parser';

/**
 * Fire times of `schedule` strictly after `since` and strictly before `until`: the ticks that
 * passed while no worker ran this job. Capped, because a year-long outage of a per-second job
 * would otherwise enumerate thirty million dates only to count them.
 */
export function countFireTimesBetween(schedule: string, timezone: string, since: Date, until: Date, cap = 100_000): number {
  const expression = CronExpressionParser.parse(schedule, { currentDate: since, endDate: until, tz: timezone });
  let count = 0;
  while (count < cap && expression.hasNext()) {
    const next = expression.next().toDate();
    if (next.getTime() >= until.getTime()) break;
    count++;
  }
  return count;
}

/** Fire times of `schedule` in [from, to] (both inclusive), oldest first, at most `cap`. */
export function fireTimesBetween(schedule: string, timezone: string, from: Date, to: Date, cap: number): Date[] {
  // cron-parser's next() is strictly after currentDate: start 1 ms early so `from` itself counts.
  const expression = CronExpressionParser.parse(schedule, { currentDate: new Date(from.getTime() - 1), tz: timezone });
  const times: Date[] = [];
  while (times.length < cap && expression.hasNext()) {
    const next = expression.next().toDate();
    if (next.getTime() > to.getTime()) break;
    times.push(next);
  }
  return times;
}
