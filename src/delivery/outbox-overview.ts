import type { Queryable } from '../db/database';
import type { ChannelLag, HeldCounts, OutboxCount, OutboxOverview } from '../http/dashboard/dashboard-sources';

/**
 * A row count of one (status, channel) and, for scheduled rows, how many are due and since when,
 * and how many a delivery policy holds back (held_until still ahead).
 */
export interface OutboxCell extends OutboxCount {
  dueNow: number;
  oldestDueSeconds: number | null;
  held: HeldCounts;
}

/**
 * The whole outbox (every tenant) by status and channel on the database's clock: the queue status
 * (/api/v1/queue) sums it by status, the dashboard shows it as it is. Held counts only scheduled
 * rows not due yet whose hold has not ended: a row keeps held_until and hold_reason once released
 * (0040), so one due again, rescheduled to now or sent since is not held any more. The counts ride
 * on the same single scan.
 */
export async function outboxCells(db: Queryable): Promise<OutboxCell[]> {
  const result = await db.query<{
    status: string;
    channel: string;
    n: string | number;
    due_now: string | number;
    oldest_due_s: string | null;
    held_quiet_hours: string | number;
    held_frequency_cap: string | number;
  }>(
    `SELECT status, channel, count(*) AS n,
            count(*) FILTER (WHERE status = 'scheduled' AND due_at <= now()) AS due_now,
            extract(epoch FROM now() - min(due_at) FILTER (WHERE status = 'scheduled' AND due_at <= now())) AS oldest_due_s,
            count(*) FILTER (WHERE status = 'scheduled' AND due_at > now() AND held_until > now() AND hold_reason = 'quiet-hours') AS held_quiet_hours,
            count(*) FILTER (WHERE status = 'scheduled' AND due_at > now() AND held_until > now() AND hold_reason = 'frequency-cap') AS held_frequency_cap
       FROM scheduled_messages GROUP BY status, channel ORDER BY channel, status`,
  );
  return result.rows.map((r) => ({
    status: r.status,
    channel: r.channel,
    count: Number(r.n),
    dueNow: Number(r.due_now),
    oldestDueSeconds: seconds(r.oldest_due_s),
    held: { quietHours: Number(r.held_quiet_hours), frequencyCap: Number(r.held_frequency_cap) },
  }));
}

/**
 * Per channel, the last hour's sends and how late they went out after their scheduled time
 * (sent_at − scheduled_at, what crm_worker_delivery_lag_seconds observes in one process, here
 * across every replica and restart). Read through the (status, updated_at) index.
 */
async function lastHourLag(db: Queryable): Promise<Array<{ channel: string; sent: number; averageSeconds: number | null; maxSeconds: number | null }>> {
  const result = await db.query<{ channel: string; n: string | number; avg_s: string | null; max_s: string | null }>(
    `SELECT channel, count(*) AS n,
            avg(greatest(0, extract(epoch FROM sent_at - scheduled_at))) AS avg_s,
            max(greatest(0, extract(epoch FROM sent_at - scheduled_at))) AS max_s
       FROM scheduled_messages
      WHERE status = 'sent' AND updated_at > now() - interval '1 hour' AND sent_at > now() - interval '1 hour'
      GROUP BY channel`,
  );
  return result.rows.map((r) => ({ channel: r.channel, sent: Number(r.n), averageSeconds: seconds(r.avg_s), maxSeconds: seconds(r.max_s) }));
}

/** The operator dashboard's outbox panel: the cells, and per channel the lag building up now and that of the last hour. */
export async function outboxOverview(db: Queryable): Promise<OutboxOverview> {
  const [cells, recent] = [await outboxCells(db), await lastHourLag(db)];
  const lag = new Map<string, ChannelLag>();
  const lagOf = (channel: string): ChannelLag => {
    const entry = lag.get(channel) ?? { channel, dueNow: 0, oldestDueSeconds: null, sentLastHour: 0, averageLagSeconds: null, maxLagSeconds: null };
    lag.set(channel, entry);
    return entry;
  };
  for (const cell of cells.filter((c) => c.dueNow > 0)) Object.assign(lagOf(cell.channel), { dueNow: cell.dueNow, oldestDueSeconds: cell.oldestDueSeconds });
  for (const r of recent) Object.assign(lagOf(r.channel), { sentLastHour: r.sent, averageLagSeconds: r.averageSeconds, maxLagSeconds: r.maxSeconds });
  const dueNow = cells.reduce((sum, c) => sum + c.dueNow, 0);
  const scheduled = cells.filter((c) => c.status === 'scheduled').reduce((sum, c) => sum + c.count, 0);
  const held: HeldCounts = {
    quietHours: cells.reduce((sum, c) => sum + c.held.quietHours, 0),
    frequencyCap: cells.reduce((sum, c) => sum + c.held.frequencyCap, 0),
  };
  return {
    counts: cells.map(({ status, channel, count }) => ({ status, channel, count })),
    lag: [...lag.values()].sort((a, b) => (a.channel < b.channel ? -1 : 1)),
    dueNow,
    scheduledLater: scheduled - dueNow,
    held,
  };
}

function seconds(value: string | null | undefined): number | null {
  return value === null || value === undefined ? null : Math.round(Number(value) * 1000) / 1000;
}
