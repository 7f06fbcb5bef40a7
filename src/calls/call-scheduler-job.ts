import type { Counter } from 'prom-client';
import type { Queryable } from '../db/database';
import type { FencedQueryable, JobDefinition } from '../scheduler/job';
import { isOpenAt, isValidTimeZone, nextOpenSlot } from './business-hours';
import { deferCall, endUnansweredAttempt, loadBusinessHours, markDialing, recordProviderCallId } from './call-store';
import type { PlaceCallRequest, TelephonyWebhook } from './telephony-webhook';

/** The time a tick acts at. Production reads the database clock, so replicas agree on it. */
export type Clock = (db: Queryable) => Promise<Date>;

export const databaseClock: Clock = async (db) => {
  const result = await db.query<{ now: Date | string }>('SELECT now() AS now');
  return new Date(result.rows[0]!.now);
};

export interface CallSchedulerOptions {
  schedule: string;
  webhook: TelephonyWebhook;
  batchSize: number;
  retrySpacingSeconds: number;
  outcomeTimeoutSeconds: number;
  clock?: Clock;
  metrics?: { callsPlaced: Counter<'result'>; callsDeferred: Counter<string> };
}

/** Re-checks for a call whose tenant has no open slot within the search window (no hours set). */
const NO_SLOT_RECHECK_MS = 24 * 3_600_000;

interface DueCall {
  id: string;
  tenant_id: string;
  contact_id: string | null;
  to_number: string;
  attempts: number;
  zone: string;
}

/**
 * call-scheduler: places due calls inside business hours, defers the others to their next open
 * slot, and counts calls whose outcome never came as unanswered. Claims run in one fenced
 * transaction with FOR UPDATE SKIP LOCKED; the webhook is called after that commits, so no
 * transaction stays open across HTTP. A crash between the two leaves the call "dialing" and the
 * outcome timeout brings it back as an unanswered attempt: it is retried, never lost.
 */
export function createCallSchedulerJob(options: CallSchedulerOptions): JobDefinition {
  const clock = options.clock ?? databaseClock;
  return {
    name: 'call-scheduler',
    healthKey: 'callScheduler',
    schedule: options.schedule,
    description: 'Places queued calls inside business hours (contact time zone) through the telephony webhook',
    async run({ db, logger, signal }) {
      const now = await clock(db);
      const expired = await expireSilentAttempts(db, now, options);
      if (expired > 0) logger.warn('placed calls without an outcome counted as unanswered', { calls: expired });

      let placed = 0;
      for (;;) {
        signal.throwIfAborted();
        const { claimed, toPlace, deferred } = await claimDueCalls(db, now, options.batchSize);
        if (deferred > 0) options.metrics?.callsDeferred.inc(deferred);
        for (const call of toPlace) {
          signal.throwIfAborted();
          const result = await options.webhook.placeCall(call, signal);
          if (result.ok) {
            placed++;
            options.metrics?.callsPlaced.inc({ result: 'accepted' });
            if (result.providerCallId) {
              await recordProviderCallId(db, { id: call.callId, attempt: call.attempt }, result.providerCallId);
            }
            continue;
          }
          options.metrics?.callsPlaced.inc({ result: result.retryable ? 'error' : 'rejected' });
          const ended = await endUnansweredAttempt(
            db,
            { id: call.callId, attempt: call.attempt },
            {
              status: 'failed',
              outcome: 'webhook-error',
              error: result.error,
              retry: result.retryable,
              now,
              defaultSpacingSeconds: options.retrySpacingSeconds,
            },
          );
          logger.warn('placing a call failed', { callId: call.callId, attempt: call.attempt, error: result.error, then: ended });
        }
        if (claimed < options.batchSize) break;
      }
      return { items: placed };
    },
  };
}

async function claimDueCalls(db: FencedQueryable, now: Date, batchSize: number): Promise<{ claimed: number; toPlace: PlaceCallRequest[]; deferred: number }> {
  return db.transaction(async (tx) => {
    // Suspended or cancelled tenants' calls stay queued, untouched, until the tenant is active.
    const due = await tx.query<DueCall>(
      `SELECT c.id::text AS id, c.tenant_id, c.contact_id, c.to_number, c.attempts,
              coalesce(c.contact_timezone, t.timezone) AS zone
         FROM calls c JOIN tenants t ON t.id = c.tenant_id
        WHERE c.status = 'queued' AND c.next_attempt_at <= $1 AND t.status IN ('trial', 'active')
        ORDER BY c.next_attempt_at, c.id
        LIMIT $2
        FOR UPDATE OF c SKIP LOCKED`,
      [now, batchSize],
    );
    const hours = await loadBusinessHours(tx, [...new Set(due.rows.map((r) => r.tenant_id))]);
    const toPlace: PlaceCallRequest[] = [];
    let deferred = 0;
    for (const call of due.rows) {
      if (!isValidTimeZone(call.zone)) {
        deferred++;
        await deferCall(tx, call.id, new Date(now.getTime() + NO_SLOT_RECHECK_MS), `time zone "${call.zone}" is not valid: fix the tenant's time zone`);
        continue;
      }
      const tenantHours = hours.get(call.tenant_id)!;
      if (isOpenAt(now, tenantHours, call.zone)) {
        await markDialing(tx, call.id, now);
        toPlace.push({
          callId: call.id,
          tenantId: call.tenant_id,
          contactId: call.contact_id,
          to: call.to_number,
          attempt: call.attempts + 1,
          timezone: call.zone,
        });
        continue;
      }
      deferred++;
      const slot = nextOpenSlot(now, tenantHours, call.zone);
      await deferCall(
        tx,
        call.id,
        slot ?? new Date(now.getTime() + NO_SLOT_RECHECK_MS),
        slot ? null : 'the tenant has no open calling hours in the coming year',
      );
    }
    return { claimed: due.rows.length, toPlace, deferred };
  });
}

/** Dialing calls whose outcome never came within the timeout end as unanswered attempts. */
async function expireSilentAttempts(db: FencedQueryable, now: Date, options: CallSchedulerOptions): Promise<number> {
  const silent = await db.query<{ id: string; attempts: number }>(
    `SELECT id::text AS id, attempts FROM calls
      WHERE status = 'dialing' AND placed_at < $1::timestamptz - make_interval(secs => $2::int)
      ORDER BY placed_at LIMIT 1000`,
    [now, options.outcomeTimeoutSeconds],
  );
  for (const call of silent.rows) {
    await endUnansweredAttempt(
      db,
      { id: call.id, attempt: call.attempts },
      {
        status: 'no-answer',
        outcome: 'no-outcome',
        error: `no outcome reported within ${options.outcomeTimeoutSeconds} s`,
        retry: true,
        now,
        defaultSpacingSeconds: options.retrySpacingSeconds,
      },
    );
  }
  return silent.rowCount;
}
