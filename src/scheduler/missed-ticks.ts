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
