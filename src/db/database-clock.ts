import { monotonicMs } from '../util/deadline';
import type { Queryable } from './database';

/** What a component needs to stamp a time on the database's clock. */
export interface WallClock {
  /** Milliseconds since the epoch. */
  nowMs(): number;
}

/**
 * The database's clock as this process can read it without a query per timestamp: now() is
 * sampled (sample()), and between samples the monotonic clock is added to the last reading.
 * Times that are stored or compared with stored times (sent_at, the delivery lag, the webhook
 * timestamp) come from here, so a worker whose own clock is skewed or stepped still agrees with
 * the database and every other replica. Before the first sample it falls back to this process's
 * clock; a step of the process clock after that changes nothing here.
 */
export class DatabaseClock implements WallClock {
  private reading: { databaseMs: number; monotonicMs: number } | undefined;

  constructor(private readonly db: Queryable) {}

  /** Reads the database's clock; the reading is taken as of the middle of the round trip. */
  async sample(): Promise<void> {
    const sentAt = monotonicMs();
    const result = await this.db.query<{ now: Date | string }>('SELECT clock_timestamp() AS now');
    const answeredAt = monotonicMs();
    this.reading = { databaseMs: new Date(result.rows[0]!.now).getTime(), monotonicMs: (sentAt + answeredAt) / 2 };
  }

  nowMs(): number {
    if (!this.reading) return Date.now();
    return Math.round(this.reading.databaseMs + (monotonicMs() - this.reading.monotonicMs));
  }
}

/** This process's own clock, for components used without a database (tests of a channel alone). */
export const processClock: WallClock = { nowMs: () => Date.now() };
