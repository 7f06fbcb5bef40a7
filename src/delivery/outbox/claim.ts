import type { Database, Queryable } from '../../db/database';
import type { ChannelName } from '../../channels/channel';
import { classOfRowSql, type MessageClass } from '../message-class';
import { applyFrequencyCaps, type HoldReason } from './frequency-cap';
import { wakeUpAfter } from './wakeup';

/**
 * Claim, mark sending, renew and release: the dispatcher's side of the outbox before an outcome
 * is known. Every write after a claim is conditioned on the claim token (claimed_by), so a worker
 * that lost its lease cannot overwrite what another did. The send-time checks that skip a row
 * run inside the claim statement.
 */

/** A row as the dispatcher holds it after its claim. */
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
  /** transactional > followup > marketing (message-class.ts): the local queue keeps that order. */
  class: MessageClass;
  personalize: boolean;
  context_hints: Record<string, unknown> | null;
  attempts: number;
  idempotency_key: string;
  recurrence_interval_seconds: number | null;
  resolution: string | null;
  /** The W3C traceparent the message was scheduled with: its send's span is that span's child. */
  traceparent: string | null;
}

const CLAIMED_COLUMNS = `m.id::text AS id, m.tenant_id, m.contact_id, m.lead_id, m.channel, m.recipient, m.scheduled_at,
  m.template, m.subject, m.variables, m.tone, m.type, m.class, m.personalize, m.context_hints, m.attempts,
  m.idempotency_key, m.recurrence_interval_seconds, m.resolution, m.traceparent`;

export type SkipReason =
  | 'followups_disabled'
  | 'suppressed'
  | 'no_consent'
  | 'consent_not_recorded'
  | 'action_item_completed'
  | 'contact_replied'
  | 'stale'
  | 'quiet-hours'
  | 'frequency-cap';

/**
 * A claimed row; skip_reason is set when the send-time checks turned it into 'skipped' instead,
 * hold_reason when a delivery policy put it back to 'scheduled' until held_until (not claimed:
 * the dispatcher must not send it).
 */
export type ClaimResult = ClaimedMessage & { skip_reason: SkipReason | null; hold_reason: HoldReason | null; held_until: Date | null };

/**
 * Claims up to `limit` due rows (due on the database's clock, never the worker's) for this token,
 * and runs the send-time checks in the same statement. SKIP LOCKED lets several workers claim
 * side by side without waiting on or taking each other's rows (the pick is the SQL function
 * delivery_pick_due, migrations 0005 and 0051: by class, fair across tenants, index probes only
 * whatever the table's statistics say); the lease says how long the claim holds if this worker dies.
 *
 * The checks: whatever changed since scheduling (the tenant switched follow-ups off, the contact
 * opted out, the action item was done, the contact replied, the message is too late to make
 * sense) makes the row 'skipped' with its reason instead of 'claimed'. Consent: the contact's
 * recorded false for the channel is 'no_consent'; with the tenant's require_recorded_consent an
 * SMS or WhatsApp without a recorded true is 'consent_not_recorded' (docs/delivery.md, Consent).
 * Still-scheduled needs no check: only 'scheduled' rows are claimed.
 *
 * A claimed row is not yet being sent: no attempt is counted and its send has not started. The
 * dispatcher marks it 'sending' (markSending) just before the send; until then a cancel, a
 * reschedule or an expired lease takes it back without any doubt about its outcome.
 */
export async function claimDueMessages(
  db: Queryable,
  params: { token: string; limit: number; leaseMs: number; excludeChannels: readonly string[]; staleAfterSeconds: number },
): Promise<ClaimResult[]> {
  // One transaction: the frequency caps count what other workers claimed under a lock per
  // contact (frequency-cap.ts), so this claim must not be visible before its cap step is done.
  const claim = async (q: Queryable): Promise<ClaimResult[]> => {
    const rows = await claimAndCheck(q, params);
    return applyFrequencyCaps(q, rows);
  };
  return isDatabase(db) ? db.transaction(claim) : claim(db);
}

function isDatabase(db: Queryable): db is Database {
  return typeof (db as Partial<Database>).transaction === 'function';
}

type CheckedRow = ClaimResult & { capped: boolean; message_class: MessageClass };

async function claimAndCheck(
  db: Queryable,
  params: { token: string; limit: number; leaseMs: number; excludeChannels: readonly string[]; staleAfterSeconds: number },
): Promise<CheckedRow[]> {
  const result = await db.query<CheckedRow>(
    `WITH picked AS (
       SELECT ARRAY(SELECT delivery_pick_due($3::integer, $4::text[])) AS ids
     ),
     -- MATERIALIZED: the UPDATE below reads c.reason in eleven places, and PostgreSQL inlines a
     -- CTE read once, repeating the whole CASE (each EXISTS probe of the checks) wherever it is
     -- read: the checks ran up to eleven times per row, most of the claim's cost in a burst
     -- (test/delivery/fair-pick-plan.test.ts counts the probes). Computed once per row here.
     checked AS MATERIALIZED (
       SELECT m.id, q.held_until, ${classOfRowSql('m')} AS message_class, ${classOfRowSql('m')} <> 'transactional' AND m.contact_id IS NOT NULL
           AND EXISTS (SELECT 1 FROM tenant_frequency_caps f
                        WHERE f.tenant_id = m.tenant_id AND f.class IN (${classOfRowSql('m')}, '*')) AS capped,
         CASE
         WHEN m.type = 'followup' AND t.followup_enabled IS NOT TRUE THEN 'followups_disabled'
         WHEN EXISTS (SELECT 1 FROM suppressions s
                       WHERE s.tenant_id = m.tenant_id AND s.channel IN (m.channel, '*')
                         AND lower(s.recipient) = lower(m.recipient)) THEN 'suppressed'
         -- A WhatsApp recipient may carry the whatsapp: prefix; its opt-out (an inbound STOP) names the number.
         WHEN m.channel = 'whatsapp' AND m.recipient ILIKE 'whatsapp:%' AND EXISTS (SELECT 1 FROM suppressions s
                       WHERE s.tenant_id = m.tenant_id AND s.channel IN ('whatsapp', '*')
                         AND lower(s.recipient) = lower(substr(m.recipient, 10))) THEN 'suppressed'
         -- Consent the CRM recorded on the contact (recorded_consent, migration 0045): an explicit
         -- false opts out of that channel; a tenant requiring recorded consent sends SMS and
         -- WhatsApp only on an explicit true.
         WHEN recorded_consent(m.tenant_id, m.contact_id, m.lead_id, m.channel) IS FALSE THEN 'no_consent'
         WHEN m.channel IN ('sms', 'whatsapp')
              AND EXISTS (SELECT 1 FROM messaging_settings ms WHERE ms.tenant_id = m.tenant_id AND ms.require_recorded_consent)
              AND recorded_consent(m.tenant_id, m.contact_id, m.lead_id, m.channel) IS NOT TRUE THEN 'consent_not_recorded'
         WHEN m.skip_if_completed AND EXISTS (SELECT 1 FROM action_items a
                       WHERE a.id = m.action_item_id AND a.completed_at IS NOT NULL) THEN 'action_item_completed'
         WHEN m.stop_on_reply AND EXISTS (SELECT 1 FROM contact_replies r
                       WHERE r.tenant_id = m.tenant_id AND r.received_at > m.created_at
                         AND ((m.contact_id IS NOT NULL AND r.contact_id = m.contact_id)
                           OR (m.lead_id IS NOT NULL AND r.lead_id = m.lead_id))) THEN 'contact_replied'
         -- Late by its own time, or by the end of the hold a policy put it under.
         WHEN now() - greatest(m.scheduled_at, m.held_until) > $5 * interval '1 second' THEN 'stale'
         WHEN q.mode = 'skip' THEN 'quiet-hours'
       END AS reason
       FROM scheduled_messages m LEFT JOIN tenants t ON t.id = m.tenant_id
       -- Quiet hours (migration 0040): the most specific window of the tenant for this message,
       -- in the contact's zone, else the tenant's; transactional messages have none.
       LEFT JOIN contacts ct ON ct.id = m.contact_id AND ct.tenant_id = m.tenant_id
       LEFT JOIN LATERAL (
         SELECT w.mode, quiet_hours_end(now(), coalesce(ct.timezone, t.timezone, 'UTC'), w.starts_at, w.ends_at) AS held_until
           FROM (SELECT * FROM tenant_quiet_hours w
                  WHERE w.tenant_id = m.tenant_id AND w.channel IN (m.channel, '*')
                    AND w.applies_to IN ('*', 'type:' || m.type, 'campaign:' || coalesce(m.variables #>> '{campaign,id}', ''))
                  ORDER BY w.applies_to LIKE 'campaign:%' DESC, w.applies_to LIKE 'type:%' DESC, w.channel <> '*' DESC
                  LIMIT 1) w
          WHERE w.mode <> 'off'
       ) q0 ON ${classOfRowSql('m')} <> 'transactional'
       CROSS JOIN LATERAL (SELECT CASE WHEN q0.held_until IS NOT NULL THEN q0.mode END AS mode,
                                  CASE WHEN q0.mode = 'hold' THEN q0.held_until END AS held_until) q
       -- An array, not a join with the function: the planner then looks the picked rows up by
       -- primary key instead of guessing 1,000 and hashing the whole table.
       WHERE m.id = ANY ((SELECT ids FROM picked)::bigint[])
     ), claimed AS (
       UPDATE scheduled_messages m
          SET status = CASE WHEN c.reason IS NOT NULL THEN 'skipped' WHEN c.held_until IS NOT NULL THEN 'scheduled' ELSE 'claimed' END,
              skip_reason = c.reason,
              claimed_by = CASE WHEN c.reason IS NULL AND c.held_until IS NOT NULL THEN NULL ELSE $1 END,
              lease_expires_at = CASE WHEN c.reason IS NULL AND c.held_until IS NULL THEN now() + $2 * interval '1 millisecond' END,
              -- Held by quiet hours: due again when the window ends (outbox/frequency-cap.ts holds too).
              due_at = CASE WHEN c.reason IS NULL AND c.held_until IS NOT NULL THEN c.held_until ELSE m.due_at END,
              held_until = CASE WHEN c.reason IS NULL AND c.held_until IS NOT NULL THEN c.held_until ELSE m.held_until END,
              hold_reason = CASE WHEN c.reason IS NULL AND c.held_until IS NOT NULL THEN 'quiet-hours' ELSE m.hold_reason END,
              updated_at = now()
         FROM checked c
        WHERE m.id = c.id
        RETURNING ${CLAIMED_COLUMNS}, c.reason AS skip_reason, m.due_at AS claim_order, c.capped AND c.reason IS NULL AND c.held_until IS NULL AS capped, c.message_class,
                  CASE WHEN c.reason IS NULL AND c.held_until IS NOT NULL THEN 'quiet-hours' END AS hold_reason,
                  CASE WHEN c.reason IS NULL THEN c.held_until END AS held_until
     )
     -- Handed out in the pick's order (by class, round-robin across tenants, due order inside a
     -- tenant: migration 0051); the local queue keeps it.
     SELECT claimed.* FROM claimed, picked ORDER BY array_position(picked.ids, claimed.id::bigint)`,
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
export async function renewSendingLeases(db: Queryable, params: { rows: ReadonlyArray<{ id: string; token: string }>; leaseMs: number }): Promise<string[]> {
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
       ${wakeUpAfter('released', 'look-now')}
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
