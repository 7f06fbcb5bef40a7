import { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from '../metrics/metrics';
import type { Database } from '../db/database';
import { withDeadline } from '../util/deadline';
import type { NextOccurrences } from './outbox/recurrence';
import { MESSAGE_STATUSES } from './outbox';

/** A scrape must answer even while the database hangs: the row counts give up after this long. */
const COUNT_DEADLINE_MS = 1_000;

/**
 * Counts outbox rows by status within COUNT_DEADLINE_MS, server-side: a count waiting behind a
 * lock on the table (a migration, an operator's LOCK TABLE) is cancelled by PostgreSQL and its
 * connection goes back to the pool. A client-side timer alone would answer the scrape but leave the
 * connection waiting, one per scrape, until the pool is used up and the worker's own work and
 * health probe cannot get one.
 */
async function countRowsByStatus(db: Database): Promise<OutboxCounts> {
  const result = await db.transaction(async (tx) => {
    await tx.query(`SET LOCAL statement_timeout = ${COUNT_DEADLINE_MS}`);
    return tx.query<{ status: string; n: string | number; due: string | number }>(
      `SELECT status, count(*) AS n, count(*) FILTER (WHERE due_at <= now()) AS due FROM scheduled_messages GROUP BY status`,
    );
  });
  const due = result.rows.find((r) => r.status === 'scheduled')?.due ?? 0;
  return { byStatus: new Map(result.rows.map((r) => [r.status, Number(r.n)])), due: Number(due) };
}

interface OutboxCounts {
  byStatus: Map<string, number>;
  /** Scheduled rows whose time has come and that no dispatcher has claimed yet: the backlog. */
  due: number;
}

/**
 * crm_worker_delivery_sends_total{channel,strategy,result}: the CRM's former FOLLOWUP_JOBS_TOTAL, for every
 * channel (strategy is the auto follow-up delay, the message type, or `other`: a closed set, see
 * metric-labels.ts; result is sent, retry, failed, dead, skipped, rate_limited). Lag is
 * sent − scheduled. Rows by status are counted at scrape.
 */
export function createDeliveryMetrics(registers: Metrics['registers'], db: Database) {
  // At most one count in flight: while one still waits (for a pool connection, say), scrapes keep
  // the last values instead of queueing more work on a database that is already slow.
  let counting: Promise<OutboxCounts> | undefined;
  return {
    sends: new Counter({
      name: 'crm_worker_delivery_sends_total',
      help: 'Delivery attempts by channel, strategy and result (sent, retry, failed, dead, skipped, rate_limited).',
      labelNames: ['channel', 'strategy', 'result'] as const,
      registers,
    }),
    lag: new Histogram({
      name: 'crm_worker_delivery_lag_seconds',
      help: 'Seconds between a message being due (scheduled_at) and the provider accepting it.',
      labelNames: ['channel'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    rows: new Gauge({
      name: 'crm_worker_delivery_messages',
      help: 'Rows of the delivery outbox by status.',
      labelNames: ['status'] as const,
      registers,
      async collect() {
        if (counting) return;
        const count = countRowsByStatus(db);
        counting = count;
        void count.then(
          () => (counting = undefined),
          () => (counting = undefined),
        );
        try {
          // The client-side deadline covers the wait for a pool connection, before the statement starts.
          const counts = await withDeadline(count, COUNT_DEADLINE_MS, 'outbox row counts for /metrics');
          for (const status of MESSAGE_STATUSES) this.set({ status }, counts.byStatus.get(status) ?? 0);
        } catch {
          // A scrape during a database outage (or hang) keeps the last values; /health reports the outage.
        }
      },
    }),
    // Registered after `rows`, whose collect starts the count this one reads: one count per scrape.
    dueRows: new Gauge({
      name: 'crm_worker_delivery_due_messages',
      help: 'Scheduled outbox rows already due and not yet claimed (the backlog; future messages are not counted).',
      registers,
      async collect() {
        const count = counting;
        if (!count) return;
        try {
          this.set((await withDeadline(count, COUNT_DEADLINE_MS, 'outbox backlog count for /metrics')).due);
        } catch {
          // As for the rows: the last value stays.
        }
      },
    }),
    reconciled: new Counter({
      name: 'crm_worker_delivery_unknown_total',
      help: 'Rows whose lease ran out while sending (outcome unknown), by channel and what happened (resent, operator).',
      labelNames: ['channel', 'action'] as const,
      registers,
    }),
    templateFailures: new Counter({
      name: 'crm_worker_delivery_template_failures_total',
      help: 'Messages failed permanently at send time because their template could not be rendered, by reason (syntax, forbidden-tag, missing-variable, limit, error).',
      labelNames: ['reason'] as const,
      registers,
    }),
    missedOccurrences: new Counter({
      name: 'crm_worker_delivery_missed_occurrences_total',
      help: 'Occurrences of recurring messages whose time had passed when the previous one was sent: skipped, not replayed.',
      labelNames: ['channel'] as const,
      registers,
    }),
    policyActions: new Counter({
      name: 'crm_worker_delivery_policy_total',
      help: 'Messages a delivery policy acted on at send time, by policy (quiet-hours, frequency-cap) and action (held, skipped); a message held again counts again.',
      labelNames: ['policy', 'action'] as const,
      registers,
    }),
    errorBackoff: new Gauge({
      name: 'crm_worker_delivery_error_backoff_seconds',
      help: 'How long the dispatcher waits, after a failed pass, before it next tries the database (0 while passes succeed).',
      registers,
    }),
    dispatcherLastTick: new Gauge({
      name: 'crm_worker_delivery_dispatcher_last_tick_timestamp_seconds',
      help: "Unix time of this process's last dispatcher pass (what /api/worker/health calls stale after 5 minutes).",
      registers,
    }),
    databaseErrors: new Counter({
      name: 'crm_worker_delivery_database_errors_total',
      help: 'Dispatcher loop passes that failed on a database error, and failed database probes while it backs off.',
      registers,
    }),
  };
}

export type DeliveryMetrics = ReturnType<typeof createDeliveryMetrics>;

/** Counts the occurrences scheduleNextOccurrences passed over (after its transaction committed). */
export function countMissedOccurrences(metrics: Pick<DeliveryMetrics, 'missedOccurrences'> | undefined, next: NextOccurrences): void {
  for (const { channel, count } of next.missed) metrics?.missedOccurrences.inc({ channel }, count);
}
