import type { Queryable } from '../db/database';
import { formatWallTime, parseWallTime, type BusinessHours, type OpeningInterval } from './business-hours';
import { WEEKDAYS, type CallSettingsBody, type EnqueueCallBody } from './call-schemas';

/** A call as the API shows it. */
export interface CallRow {
  id: string;
  tenant_id: string;
  contact_id: string | null;
  to_number: string;
  contact_timezone: string | null;
  status: string;
  attempts: number;
  max_attempts: number;
  scheduled_for: Date | null;
  next_attempt_at: Date | null;
  placed_at: Date | null;
  ended_at: Date | null;
  last_outcome: string | null;
  last_error: string | null;
  provider_call_id: string | null;
  created_at: Date;
}

const CALL_COLUMNS = `id::text AS id, tenant_id, contact_id, to_number, contact_timezone, status, attempts, max_attempts,
  scheduled_for, next_attempt_at, placed_at, ended_at, last_outcome, last_error, provider_call_id, created_at`;

export async function tenantExists(db: Queryable, tenantId: string): Promise<boolean> {
  const found = await db.query('SELECT 1 FROM tenants WHERE id = $1', [tenantId]);
  return found.rowCount > 0;
}

/** Queues a call; max attempts come from the body, else the tenant's settings, else the default. */
export async function enqueueCall(db: Queryable, body: EnqueueCallBody, defaultMaxAttempts: number): Promise<CallRow> {
  const inserted = await db.query<CallRow>(
    `INSERT INTO calls (tenant_id, contact_id, to_number, contact_timezone, status, scheduled_for, next_attempt_at, max_attempts)
     VALUES ($1, $2, $3, $4, 'queued', $5::timestamptz, coalesce($5::timestamptz, now()),
             coalesce($6::int, (SELECT max_attempts FROM call_settings WHERE tenant_id = $1), $7::int))
     RETURNING ${CALL_COLUMNS}`,
    [body.tenantId, body.contactId ?? null, body.phone, body.timezone ?? null, body.notBefore ?? null, body.maxAttempts ?? null, defaultMaxAttempts],
  );
  return inserted.rows[0]!;
}

export async function getCall(db: Queryable, id: string): Promise<CallRow | undefined> {
  const found = await db.query<CallRow>(`SELECT ${CALL_COLUMNS} FROM calls WHERE id = $1`, [id]);
  return found.rows[0];
}

export async function listCalls(db: Queryable, filter: { status?: string; tenantId?: string; limit: number }): Promise<CallRow[]> {
  const result = await db.query<CallRow>(
    `SELECT ${CALL_COLUMNS} FROM calls
      WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR tenant_id = $2)
      ORDER BY id LIMIT $3`,
    [filter.status ?? null, filter.tenantId ?? null, filter.limit],
  );
  return result.rows;
}

/** Loads the calling hours and holidays of some tenants, keyed by tenant id. */
export async function loadBusinessHours(db: Queryable, tenantIds: readonly string[]): Promise<Map<string, BusinessHours>> {
  const weekly = new Map<string, Map<number, OpeningInterval[]>>();
  const holidays = new Map<string, Set<string>>();
  for (const id of tenantIds) {
    weekly.set(id, new Map());
    holidays.set(id, new Set());
  }
  const hours = await db.query<{ tenant_id: string; weekday: number; opens: string; closes: string }>(
    `SELECT tenant_id, weekday, to_char(opens, 'HH24:MI') AS opens, to_char(closes, 'HH24:MI') AS closes
       FROM call_business_hours WHERE tenant_id = ANY($1::text[]) ORDER BY tenant_id, weekday, opens`,
    [tenantIds],
  );
  for (const row of hours.rows) {
    const days = weekly.get(row.tenant_id)!;
    const list = days.get(Number(row.weekday)) ?? [];
    // time '24:00' prints as 24:00, which parseWallTime accepts as a closing time.
    list.push({ opensMinute: parseWallTime(row.opens)!, closesMinute: parseWallTime(row.closes)! });
    days.set(Number(row.weekday), list);
  }
  const days = await db.query<{ tenant_id: string; day: string }>(
    `SELECT tenant_id, to_char(day, 'YYYY-MM-DD') AS day FROM call_holidays WHERE tenant_id = ANY($1::text[])`,
    [tenantIds],
  );
  for (const row of days.rows) holidays.get(row.tenant_id)!.add(row.day);
  return new Map(tenantIds.map((id) => [id, { weekly: weekly.get(id)!, holidays: holidays.get(id)! }]));
}

/** Replaces a tenant's hours, holidays and retry policy in one transaction (the caller's). */
export async function replaceCallSettings(tx: Queryable, tenantId: string, body: CallSettingsBody): Promise<void> {
  await tx.query('DELETE FROM call_business_hours WHERE tenant_id = $1', [tenantId]);
  await tx.query('DELETE FROM call_holidays WHERE tenant_id = $1', [tenantId]);
  for (const [index, day] of WEEKDAYS.entries()) {
    for (const interval of body.hours[day] ?? []) {
      await tx.query('INSERT INTO call_business_hours (tenant_id, weekday, opens, closes) VALUES ($1, $2, $3::time, $4::time)', [
        tenantId,
        index + 1,
        interval.opens,
        interval.closes,
      ]);
    }
  }
  for (const day of new Set(body.holidays)) {
    await tx.query('INSERT INTO call_holidays (tenant_id, day) VALUES ($1, $2::date)', [tenantId, day]);
  }
  await tx.query(
    `INSERT INTO call_settings (tenant_id, max_attempts, retry_spacing_seconds) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id) DO UPDATE SET max_attempts = EXCLUDED.max_attempts,
       retry_spacing_seconds = EXCLUDED.retry_spacing_seconds, updated_at = now()`,
    [tenantId, body.maxAttempts, body.retrySpacingSeconds],
  );
}

export async function readCallSettings(db: Queryable, tenantId: string) {
  const hours = (await loadBusinessHours(db, [tenantId])).get(tenantId)!;
  const policy = await db.query<{ max_attempts: number | null; retry_spacing_seconds: number | null }>(
    'SELECT max_attempts, retry_spacing_seconds FROM call_settings WHERE tenant_id = $1',
    [tenantId],
  );
  return {
    tenantId,
    hours: Object.fromEntries(
      WEEKDAYS.map((day, i) => [
        day,
        (hours.weekly.get(i + 1) ?? []).map((iv) => ({ opens: formatWallTime(iv.opensMinute), closes: formatWallTime(iv.closesMinute) })),
      ]),
    ),
    holidays: [...hours.holidays].sort(),
    maxAttempts: policy.rows[0]?.max_attempts ?? null,
    retrySpacingSeconds: policy.rows[0]?.retry_spacing_seconds ?? null,
  };
}

export type AttemptEnd = 'no-answer' | 'busy' | 'failed';

/**
 * Ends the current attempt of a dialing call that was not answered (or whose placement failed):
 * queued again after the tenant's spacing while attempts remain, otherwise final with `status`.
 * Only the attempt named is ended, so a late report about an earlier attempt changes nothing.
 * `retry` false makes the end final at once (a request the telephony side refused).
 */
export async function endUnansweredAttempt(
  db: Queryable,
  call: { id: string; attempt: number },
  end: { status: AttemptEnd; outcome: string; error: string | null; retry: boolean; now: Date | null; defaultSpacingSeconds: number },
): Promise<'requeued' | 'final' | 'stale'> {
  const result = await db.query<{ status: string }>(
    `UPDATE calls SET
        status = CASE WHEN $4 AND attempts < max_attempts THEN 'queued' ELSE $3 END,
        next_attempt_at = CASE WHEN $4 AND attempts < max_attempts
          THEN coalesce($7::timestamptz, now()) + make_interval(secs =>
            coalesce((SELECT retry_spacing_seconds FROM call_settings s WHERE s.tenant_id = calls.tenant_id), $8::int))
          ELSE NULL END,
        ended_at = CASE WHEN $4 AND attempts < max_attempts THEN NULL ELSE coalesce($7::timestamptz, now()) END,
        last_outcome = $5, last_error = $6, updated_at = now()
      WHERE id = $1 AND attempts = $2 AND status IN ('dialing', 'in-progress')
      RETURNING status`,
    [call.id, call.attempt, end.status, end.retry, end.outcome, end.error, end.now, end.defaultSpacingSeconds],
  );
  if (result.rowCount === 0) return 'stale';
  return result.rows[0]!.status === 'queued' ? 'requeued' : 'final';
}

/** One page of calls in id order after `afterId`, optionally of one tenant and status (the caller reads one more than it shows). */
export async function listCallsPage(
  db: Queryable,
  page: { status?: string | undefined; tenantId?: string | undefined; afterId?: string | undefined; limit: number },
): Promise<CallRow[]> {
  const result = await db.query<CallRow>(
    `SELECT ${CALL_COLUMNS} FROM calls
      WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR tenant_id = $2) AND ($3::bigint IS NULL OR id > $3::bigint)
      ORDER BY id LIMIT $4`,
    [page.status ?? null, page.tenantId ?? null, page.afterId ?? null, page.limit],
  );
  return result.rows;
}

/**
 * The calls table has one owner: this file. The scheduler job, the routes and the cleanup job
 * write a call through the transitions below (test/architecture/table-owners.test.ts).
 */

/**
 * A due call starts its next attempt: counted here, placed at `now`. The provider's id is the
 * last attempt's until the telephony side names this one's: cleared, so that the API never shows
 * a new attempt under an old attempt's id (a CRM matching reports by it would file them wrongly).
 */
export async function markDialing(db: Queryable, id: string, now: Date): Promise<void> {
  await db.query(
    `UPDATE calls SET status = 'dialing', attempts = attempts + 1, placed_at = $2, next_attempt_at = NULL,
            ended_at = NULL, provider_call_id = NULL, updated_at = now() WHERE id = $1`,
    [id, now],
  );
}

/** A due call that may not ring now waits until `until`; `error` says why when no slot is known. */
export async function deferCall(db: Queryable, id: string, until: Date, error: string | null): Promise<void> {
  await db.query(`UPDATE calls SET next_attempt_at = $2, last_error = $3, updated_at = now() WHERE id = $1`, [id, until, error]);
}

/** The telephony side's own id for a placed attempt, for its later outcome reports; only while that attempt is the call's latest. */
export async function recordProviderCallId(db: Queryable, call: { id: string; attempt: number }, providerCallId: string): Promise<void> {
  await db.query('UPDATE calls SET provider_call_id = $2, updated_at = now() WHERE id = $1 AND attempts = $3', [call.id, providerCallId, call.attempt]);
}

/**
 * A reported answer ('in-progress') or completion of the named attempt. Only a call still
 * dialing or in progress on that attempt changes; returns whether it did.
 */
export async function recordCallAnswered(
  db: Queryable,
  call: { id: string; attempt: number },
  report: { status: 'in-progress' | 'completed'; outcome: string; providerCallId: string | null },
): Promise<boolean> {
  const updated = await db.query(
    `UPDATE calls SET status = $3, last_outcome = $4, last_error = NULL,
            ended_at = CASE WHEN $3 = 'completed' THEN now() ELSE NULL END,
            provider_call_id = coalesce($5, provider_call_id), updated_at = now()
      WHERE id = $1 AND attempts = $2 AND status IN ('dialing', 'in-progress')`,
    [call.id, call.attempt, report.status, report.outcome, report.providerCallId],
  );
  return updated.rowCount > 0;
}

/** Withdraws a call still waiting; one already ringing reports its own outcome. Returns whether it was cancelled. */
export async function cancelQueuedCall(db: Queryable, id: string): Promise<boolean> {
  const cancelled = await db.query(
    `UPDATE calls SET status = 'cancelled', ended_at = now(), next_attempt_at = NULL, updated_at = now()
      WHERE id = $1 AND status = 'queued'`,
    [id],
  );
  return cancelled.rowCount > 0;
}

/**
 * A deleted contact's calls still waiting are withdrawn, as its messages are: nobody should be
 * rung on behalf of a contact the CRM removed. One already ringing reports its own outcome.
 * Returns how many were cancelled.
 */
export async function cancelQueuedCallsOfContact(db: Queryable, tenantId: string, contactId: string): Promise<number> {
  const cancelled = await db.query(
    `UPDATE calls SET status = 'cancelled', ended_at = now(), next_attempt_at = NULL, last_error = 'contact deleted', updated_at = now()
      WHERE tenant_id = $1 AND contact_id = $2 AND status = 'queued'`,
    [tenantId, contactId],
  );
  return cancelled.rowCount;
}

/** Removes up to `limit` finished calls older than `retentionDays`, oldest first; returns how many. */
export async function deleteFinishedCalls(db: Queryable, retentionDays: number, limit: number): Promise<number> {
  const batch = await db.query(
    `DELETE FROM calls
      WHERE id IN (SELECT id FROM calls
                    WHERE status IN ('completed', 'no-answer', 'busy', 'failed', 'cancelled')
                      AND created_at < now() - make_interval(days => $1::int)
                    ORDER BY created_at
                    LIMIT $2)`,
    [retentionDays, limit],
  );
  return batch.rowCount;
}
