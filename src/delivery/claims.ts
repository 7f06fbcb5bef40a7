import type { Queryable } from '../db/database';
import type { ChannelName } from '../channels/channel';

/**
 * The dispatcher's SQL, in one place. Every write after a claim is conditioned on the claim
 * token (claimed_by), so a worker that lost its lease cannot overwrite what another did.
 */

export interface ClaimedMessage {
  id: string;
  tenant_id: string;
  contact_id: string | null;
  lead_id: string | null;
  channel: ChannelName;
  recipient: string;
  scheduled_at: Date;
  template: string;
  subject: string | null;
  variables: Record<string, unknown>;
  tone: string | null;
  type: string;
  personalize: boolean;
  context_hints: Record<string, unknown> | null;
  attempts: number;
  idempotency_key: string;
  recurrence_interval_seconds: number | null;
  resolution: string | null;
}

const CLAIMED_COLUMNS = `m.id::text AS id, m.tenant_id, m.contact_id, m.lead_id, m.channel, m.recipient, m.scheduled_at,
  m.template, m.subject, m.variables, m.tone, m.type, m.personalize, m.context_hints, m.attempts,
  m.idempotency_key, m.recurrence_interval_seconds, m.resolution`;

export type SkipReason = 'followups_disabled' | 'suppressed' | 'action_item_completed' | 'contact_replied' | 'stale';

/** A claimed row; skip_reason is set when the send-time checks turned it into 'skipped' instead. */
export type ClaimResult = ClaimedMessage & { skip_reason: SkipReason | null };

/**
 * Claims up to `limit` due rows (due on the database's clock, never the worker's) for this token,
 * and runs the send-time checks in the same statement. SKIP LOCKED lets several workers claim
 * side by side without waiting on or taking each other's rows (the pick is the SQL function
 * delivery_pick_due, migration 0005, which walks the due index in order whatever the table's
 * statistics say); the lease says how long the claim holds if this worker dies.
 *
 * The checks: whatever changed since scheduling (the tenant switched follow-ups off, the contact
 * opted out, the action item was done, the contact replied, the message is too late to make
 * sense) makes the row 'skipped' with its reason instead of 'claimed'. Still-scheduled needs no
 * check: only 'scheduled' rows are claimed.
 *
 * A claimed row is not yet being sent: no attempt is counted and its send has not started. The
 * dispatcher marks it 'sending' (markSending) just before the send; until then a cancel, a
 * reschedule or an expired lease takes it back without any doubt about its outcome.
 */
export async function claimDueMessages(
  db: Queryable,
  params: { token: string; limit: number; leaseMs: number; excludeChannels: readonly string[]; staleAfterSeconds: number },
): Promise<ClaimResult[]> {
  const result = await db.query<ClaimResult>(
    `WITH checked AS (
       SELECT m.id, CASE
         WHEN m.type = 'followup' AND t.followup_enabled IS NOT TRUE THEN 'followups_disabled'
         WHEN EXISTS (SELECT 1 FROM suppressions s
                       WHERE s.tenant_id = m.tenant_id AND s.channel IN (m.channel, '*')
                         AND lower(s.recipient) = lower(m.recipient)) THEN 'suppressed'
         WHEN m.skip_if_completed AND EXISTS (SELECT 1 FROM action_items a
                       WHERE a.id = m.action_item_id AND a.completed_at IS NOT NULL) THEN 'action_item_completed'
         WHEN m.stop_on_reply AND EXISTS (SELECT 1 FROM contact_replies r
                       WHERE r.tenant_id = m.tenant_id AND r.received_at > m.created_at
                         AND ((m.contact_id IS NOT NULL AND r.contact_id = m.contact_id)
                           OR (m.lead_id IS NOT NULL AND r.lead_id = m.lead_id))) THEN 'contact_replied'
         WHEN now() - m.scheduled_at > $5 * interval '1 second' THEN 'stale'
       END AS reason
       FROM scheduled_messages m LEFT JOIN tenants t ON t.id = m.tenant_id
       -- An array, not a join with the function: the planner then looks the picked rows up by
       -- primary key instead of guessing 1,000 and hashing the whole table.
       WHERE m.id = ANY (ARRAY(SELECT delivery_pick_due($3::integer, $4::text[])))
     ), claimed AS (
       UPDATE scheduled_messages m
          SET status = CASE WHEN c.reason IS NULL THEN 'claimed' ELSE 'skipped' END,
              skip_reason = c.reason,
              claimed_by = $1,
              lease_expires_at = CASE WHEN c.reason IS NULL THEN now() + $2 * interval '1 millisecond' END,
              updated_at = now()
         FROM checked c
        WHERE m.id = c.id
        RETURNING ${CLAIMED_COLUMNS}, c.reason AS skip_reason, m.due_at AS claim_order
     )
     -- Handed out in due order (scheduling order among equals): the local queue sends oldest first.
     SELECT * FROM claimed ORDER BY claim_order, id::bigint`,
    [params.token, params.leaseMs, params.limit, params.excludeChannels, params.staleAfterSeconds],
    { name: 'delivery-claim' },
  );
  return result.rows;
}

/**
 * Marks claimed rows 'sending' just before their sends start, in one statement by primary key
 * and claim token: this is the attempt (counted here) and from here on an expired lease means an
 * unknown outcome. Only rows still 'claimed' by that token are marked: a row cancelled,
 * rescheduled or taken back by the lease sweep meanwhile is not, and must not be sent. The lease
 * restarts here so the send gets the whole of it. Returns the marked ids with their attempt number.
 *
 * Repeatable: a row already 'sending' under the token (a mark whose answer was lost to a database
 * error, the caller still holding the row unstarted) is returned again without a second attempt.
 * Only the claim's holder passes its token, and it passes only rows whose sends it has not started.
 */
export async function markSending(
  db: Queryable,
  params: { rows: ReadonlyArray<{ id: string; token: string }>; leaseMs: number },
): Promise<Array<{ id: string; attempts: number }>> {
  if (params.rows.length === 0) return [];
  const result = await db.query<{ id: string; attempts: number }>(
    `UPDATE scheduled_messages m
        SET status = 'sending', attempts = m.attempts + CASE WHEN m.status = 'claimed' THEN 1 ELSE 0 END,
            lease_expires_at = now() + $3 * interval '1 millisecond', updated_at = now()
       FROM unnest($1::bigint[], $2::text[]) AS r(id, token)
      WHERE m.id = r.id AND m.claimed_by = r.token AND m.status IN ('claimed', 'sending')
      RETURNING m.id::text AS id, m.attempts`,
    [params.rows.map((r) => r.id), params.rows.map((r) => r.token), params.leaseMs],
    { name: 'delivery-mark-sending' },
  );
  return result.rows.map((r) => ({ id: r.id, attempts: Number(r.attempts) }));
}

/**
 * Extends the leases of rows this worker marked 'sending' and has not started yet (marked ahead
 * and waiting for a slot, or about to start): a live worker keeps what it holds however long its
 * slots are busy. Only rows still 'sending' under the token: one whose lease already ran out
 * (turned 'unknown' by a lease sweep, perhaps resent by another worker) is not renewed, and its
 * holder must not send it. Returns the renewed ids.
 */
export async function renewSendingLeases(
  db: Queryable,
  params: { rows: ReadonlyArray<{ id: string; token: string }>; leaseMs: number },
): Promise<string[]> {
  if (params.rows.length === 0) return [];
  const result = await db.query<{ id: string }>(
    `UPDATE scheduled_messages m
        SET lease_expires_at = now() + $3 * interval '1 millisecond', updated_at = now()
       FROM unnest($1::bigint[], $2::text[]) AS r(id, token)
      WHERE m.id = r.id AND m.claimed_by = r.token AND m.status = 'sending'
      RETURNING m.id::text AS id`,
    [params.rows.map((r) => r.id), params.rows.map((r) => r.token), params.leaseMs],
    { name: 'delivery-renew-sending' },
  );
  return result.rows.map((r) => r.id);
}

export interface SentRecord {
  id: string;
  token: string;
  sentAt: Date;
  sentBy: string;
  providerMessageId: string | null;
}

/**
 * Marks claimed rows sent. A row that went 'unknown' because this worker's lease ran out is
 * still ours (claimed_by kept) and is resolved to sent here, since this worker knows it was
 * accepted. Recurring rows get their next occurrence in the same transaction.
 */
export async function markClaimedSent(db: Queryable, records: readonly SentRecord[]): Promise<string[]> {
  if (records.length === 0) return [];
  const result = await db.query<{ id: string }>(
    `UPDATE scheduled_messages m
        SET status = 'sent', sent_at = r.sent_at, sent_by = r.sent_by, provider_message_id = r.provider_id,
            lease_expires_at = NULL, last_error = NULL, updated_at = now()
       FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[])
            AS r(id, token, sent_at, sent_by, provider_id)
      WHERE m.id = r.id AND m.claimed_by = r.token AND m.status IN ('sending', 'unknown')
      RETURNING m.id::text AS id`,
    [
      records.map((r) => r.id),
      records.map((r) => r.token),
      records.map((r) => r.sentAt.toISOString()),
      records.map((r) => r.sentBy),
      records.map((r) => r.providerMessageId),
    ],
    { name: 'delivery-mark-sent' },
  );
  return result.rows.map((r) => r.id);
}

/** Occurrences of recurring messages passed over by scheduleNextOccurrences, per channel. */
export interface NextOccurrences {
  scheduled: number;
  missed: Array<{ channel: ChannelName; count: number }>;
}

/**
 * Inserts the next occurrence of each sent recurring row that has none yet, with a derived
 * idempotency key (series key + '@r' + its epoch second), so running this twice still yields
 * exactly one.
 *
 * The next occurrence is the first slot of the series (previous time + k intervals, so the series
 * keeps its rhythm and does not drift by send lag) that is after now on the database's clock. A
 * series whose time is long past (scheduled an hour ago every minute, or sent late after retries
 * or an outage) therefore sends once now and then resumes at its next slot: the slots in between
 * are missed, not replayed as a burst, and returned as counts for the metric (like the cron
 * catch-up rule in src/scheduler/missed-ticks.ts).
 */
export async function scheduleNextOccurrences(db: Queryable, ids: readonly string[]): Promise<NextOccurrences> {
  if (ids.length === 0) return { scheduled: 0, missed: [] };
  const result = await db.query<{ linked: string | number; missed: Array<{ channel: ChannelName; count: number }> }>(
    `WITH sent AS (
       SELECT m.*, greatest(1, floor(extract(epoch FROM now() - m.scheduled_at) / m.recurrence_interval_seconds)::bigint + 1) AS step
         FROM scheduled_messages m
        WHERE m.id = ANY($1::bigint[]) AND m.status = 'sent' AND m.recurrence_interval_seconds IS NOT NULL
          AND m.next_occurrence_id IS NULL
     ), planned AS (
       SELECT sent.*, scheduled_at + step * recurrence_interval_seconds * interval '1 second' AS next_at FROM sent
     ), inserted AS (
       INSERT INTO scheduled_messages (tenant_id, contact_id, lead_id, channel, recipient, scheduled_at, due_at,
         template, subject, variables, tone, type, personalize, context_hints, idempotency_key,
         skip_if_completed, action_item_id, stop_on_reply, recurrence_interval_seconds, previous_occurrence_id)
       SELECT tenant_id, contact_id, lead_id, channel, recipient, next_at, next_at,
              template, subject, variables, tone, type, personalize, context_hints,
              coalesce(series_key, regexp_replace(idempotency_key, '@r[0-9]+$', '')) || '@r'
                || floor(extract(epoch FROM next_at))::bigint::text,
              skip_if_completed, action_item_id, stop_on_reply, recurrence_interval_seconds, id
         FROM planned
       ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
       RETURNING id, previous_occurrence_id, due_at
     ), linked AS (
       UPDATE scheduled_messages m SET next_occurrence_id = i.id, updated_at = now()
         FROM inserted i WHERE m.id = i.previous_occurrence_id
       RETURNING m.id
     ), woken AS (
       SELECT pg_notify('crm_delivery_wakeup', floor(extract(epoch FROM min(due_at)) * 1000)::bigint::text)
         FROM inserted HAVING count(*) > 0
     )
     SELECT (SELECT count(*) FROM linked) AS linked,
            (SELECT coalesce(json_agg(json_build_object('channel', channel, 'count', n)), '[]'::json)
               FROM (SELECT p.channel, sum(p.step - 1)::int AS n FROM planned p JOIN linked l ON l.id = p.id
                      WHERE p.step > 1 GROUP BY p.channel) per_channel) AS missed,
            (SELECT count(*) FROM woken) AS woken`,
    [ids],
  );
  const row = result.rows[0];
  return { scheduled: Number(row?.linked ?? 0), missed: row?.missed ?? [] };
}

/** A failed attempt: back to 'scheduled' at retryAt, or final ('failed' / 'dead'). */
export async function recordAttemptFailure(
  db: Queryable,
  params: {
    id: string;
    token: string;
    /** 'unknown': the send may have reached the provider (it timed out); an operator resolves it. */
    status: 'scheduled' | 'failed' | 'dead' | 'unknown';
    error: string;
    retryInMs?: number;
    /** A rate-limit wait is not the message's fault: it does not use up an attempt. */
    refundAttempt?: boolean;
  },
): Promise<boolean> {
  const result = await db.query(
    `UPDATE scheduled_messages
        SET status = $3, last_error = $4,
            due_at = CASE WHEN $3 = 'scheduled' THEN now() + $5 * interval '1 millisecond' ELSE due_at END,
            attempts = attempts - CASE WHEN $6 THEN 1 ELSE 0 END,
            lease_expires_at = NULL, updated_at = now()
      WHERE id = $1 AND claimed_by = $2 AND status IN ('sending', 'unknown')`,
    [params.id, params.token, params.status, params.error.slice(0, 2_000), params.retryInMs ?? 0, params.refundAttempt ?? false],
  );
  return result.rowCount > 0;
}

/**
 * Expired leases. 'claimed' rows past their lease were taken by a worker that died (or stalled)
 * before starting their sends: nothing reached a provider, so they go back to 'scheduled' as they
 * were (no attempt was counted). Rows still 'sending' past their lease belong to a worker that
 * died after starting the send: the provider may or may not have the message. They become
 * 'unknown', never resent blindly. Returns the rows that became unknown and how many were returned.
 */
export async function expireLeases(db: Queryable): Promise<{ unknown: Array<{ id: string; channel: ChannelName }>; returned: number }> {
  const returned = await db.query(
    `WITH returned AS (
       UPDATE scheduled_messages
          SET status = 'scheduled', claimed_by = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id IN (SELECT id FROM scheduled_messages
                      WHERE status = 'claimed' AND lease_expires_at < now()
                      ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
        RETURNING due_at
     ), woken AS (
       SELECT pg_notify('crm_delivery_wakeup', '0') FROM returned HAVING count(*) > 0
     )
     SELECT (SELECT count(*) FROM returned) AS n, (SELECT count(*) FROM woken) AS woken`,
  );
  const result = await db.query<{ id: string; channel: ChannelName }>(
    `UPDATE scheduled_messages
        SET status = 'unknown', lease_expires_at = NULL, updated_at = now(),
            last_error = 'lease expired while sending: the provider may or may not have accepted it'
      WHERE id IN (SELECT id FROM scheduled_messages
                    WHERE status = 'sending' AND lease_expires_at < now()
                    ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
      RETURNING id::text AS id, channel`,
  );
  return { unknown: result.rows, returned: Number((returned.rows[0] as { n: string | number } | undefined)?.n ?? 0) };
}

/**
 * Unknown rows on channels whose receiver deduplicates by idempotency key are resent with the
 * same key: a receiver that already has it drops the repeat. Others wait for an operator.
 */
export async function reconcileUnknownByResend(db: Queryable, channels: readonly ChannelName[]): Promise<number> {
  if (channels.length === 0) return 0;
  const result = await db.query(
    `UPDATE scheduled_messages
        SET status = 'scheduled', due_at = now(), claimed_by = NULL, updated_at = now(),
            resolution = 'reconciled: resent with the same idempotency key after an unknown outcome'
      WHERE status = 'unknown' AND channel = ANY($1::text[])`,
    [channels],
  );
  return result.rowCount;
}

/**
 * Claimed rows this worker will not send after all (shutdown, held too long, lease too short to
 * start the send): back to 'scheduled'. A row already marked 'sending' whose send did not start
 * gets its attempt refunded; so does one that went 'unknown' meanwhile (its lease ran out while
 * it waited) and is still under this token: its holder knows the send never started, so it is
 * not a doubt for a resend or an operator.
 */
export async function releaseClaims(db: Queryable, params: { ids: readonly string[]; token: string }): Promise<number> {
  if (params.ids.length === 0) return 0;
  // The notify lets another dispatcher take them now rather than at its next wake-up.
  const result = await db.query<{ n: string | number }>(
    `WITH released AS (
       UPDATE scheduled_messages
          SET status = 'scheduled', attempts = attempts - CASE WHEN status IN ('sending', 'unknown') THEN 1 ELSE 0 END,
              last_error = CASE WHEN status = 'unknown' THEN NULL ELSE last_error END,
              claimed_by = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND status IN ('claimed', 'sending', 'unknown')
        RETURNING id
     ), woken AS (
       SELECT pg_notify('crm_delivery_wakeup', '0') FROM released HAVING count(*) > 0
     )
     SELECT (SELECT count(*) FROM released) AS n, (SELECT count(*) FROM woken) AS woken`,
    [params.ids, params.token],
  );
  return Number(result.rows[0]?.n ?? 0);
}

/** When the dispatcher must next look: the earliest due row or lease expiry, on the database clock. */
export async function nextWakeInMs(db: Queryable, excludeChannels: readonly string[]): Promise<number | undefined> {
  const result = await db.query<{ due_in_ms: string | number | null; lease_in_ms: string | number | null }>(
    `SELECT (SELECT ceil(extract(epoch FROM (min(due_at) - now())) * 1000) FROM scheduled_messages
              WHERE status = 'scheduled' AND NOT (channel = ANY($1::text[]))) AS due_in_ms,
            (SELECT ceil(extract(epoch FROM (min(lease_expires_at) - now())) * 1000) FROM scheduled_messages
              WHERE status IN ('claimed', 'sending')) AS lease_in_ms`,
    [excludeChannels],
    { name: 'delivery-next-wake' },
  );
  const row = result.rows[0];
  const candidates = [row?.due_in_ms, row?.lease_in_ms].filter((v) => v !== null && v !== undefined).map(Number);
  return candidates.length > 0 ? Math.max(0, Math.min(...candidates)) : undefined;
}

/** This dispatcher's last tick, shared through the database so any process can answer /api/worker/health. */
export async function recordHeartbeat(db: Queryable, instance: string): Promise<void> {
  await db.query(
    `INSERT INTO delivery_heartbeats (instance, last_tick) VALUES ($1, now())
     ON CONFLICT (instance) DO UPDATE SET last_tick = now()`,
    [instance],
  );
}
