import { CronExpressionParser } from 'cron-parser';
import { validateDetailed } from 'node-cron';

/**
 * Validates a cron expression with the parser that computes its fire times (cron-parser, see
 * scheduler/cron-timer.ts) and with node-cron's stricter field checks, which give the clearer
 * messages: a schedule accepted at startup is one the runtime understands. Five fields, or six
 * with seconds.
 */
export function cronExpressionProblem(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6) {
    return `must have 5 fields (minute hour day month weekday) or 6 with seconds first, got ${fields.length}`;
  }
  const result = validateDetailed(expression);
  if (!result.valid) return result.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'is not a valid cron expression';
  try {
    CronExpressionParser.parse(expression, { strict: false }).next();
  } catch (err) {
    return `is not a valid cron expression (${(err as Error).message})`;
  }
  return undefined;
}

/** Cron for "every N seconds" as the design's CALL_SCHEDULER_INTERVAL means it. */
export function cronEverySeconds(seconds: number): string | undefined {
  if (seconds >= 1 && seconds < 60 && 60 % seconds === 0) return `*/${seconds} * * * * *`;
  if (seconds % 60 === 0) return cronEveryMinutes(seconds / 60);
  return undefined;
}

/** Cron for "every N minutes" as the design's LEAD_REMINDER_INTERVAL means it. */
export function cronEveryMinutes(minutes: number): string | undefined {
  if (minutes >= 1 && minutes < 60 && 60 % minutes === 0) return `0 */${minutes} * * * *`;
  if (minutes % 60 === 0 && minutes / 60 <= 24 && 24 % (minutes / 60) === 0) {
    return minutes === 1440 ? '0 0 0 * * *' : `0 0 */${minutes / 60} * * *`;
  }
  return undefined;
}
