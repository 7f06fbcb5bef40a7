import type { Queryable } from '../db/database';
import type { ChannelName } from '../channels/channel';
import { validateScheduleRequests, type ValidationOptions } from './schedule-request';
import { ValidationError } from './validation-error';

export type { ChannelName } from '../channels/channel';
export { ValidationError } from './validation-error';

/** The NOTIFY channel that wakes dispatchers; the payload is the earliest new due time in epoch ms. */
export const WAKEUP_CHANNEL = 'crm_delivery_wakeup';

/**
 * Every status a scheduled message can have. Final: sent, failed, cancelled, dead, skipped.
 * 'claimed': taken by a dispatcher, send not started (can still be cancelled); 'sending': send started.
 */
export const MESSAGE_STATUSES = ['scheduled', 'claimed', 'sending', 'sent', 'failed', 'cancelled', 'dead', 'skipped', 'unknown'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** One message to send later. The outbox contract: fields may be added, never removed or renamed. */
export interface ScheduleRequest {
  tenantId: string;
  contactId?: string | null;
  leadId?: string | null;
  channel: ChannelName;
  /** e-mail address, E.164 phone, or for webhook a configured target name / URL. */
  recipient: string;
  scheduledAt: Date;
  /** liquid template text of the body; subject for e-mail. */
  template: string;
  subject?: string;
  variables?: Record<string, unknown>;
  tone?: string;
  /** e.g. 'followup', 'campaign', 'lead-reminder', 'appointment-reminder', 'nurture', 'dunning'. */
  type?: string;
  /** scheduling the same key twice yields one row. */
  idempotencyKey: string;
  skipIfCompleted?: boolean;
  actionItemId?: string | null;
  stopOnReply?: boolean;
  personalize?: boolean;
  /** Facts the AI personalization may use (004's ai_context_hints). */
  contextHints?: Record<string, unknown> | null;
  recurrenceIntervalSeconds?: number | null;
}

export interface ScheduleResult {
  scheduled: number;
  duplicates: number;
  /** Ids of the rows this call inserted (duplicates excluded), in no particular order. */
  ids: string[];
}

// Large schedules go in slices so one statement's JSON parameter stays a few megabytes.
const INSERT_SLICE = 2_000;

/**
 * Validates all requests first (throws ValidationError naming the field; nothing written), then
 * INSERT ... ON CONFLICT (idempotency_key) DO NOTHING and pg_notify to wake the dispatcher, in
 * the caller's transaction when `db` is one. Each slice is one statement (insert and notify
 * together), so even outside a transaction no row exists without its wake-up; pass a transaction
 * to make a batch larger than one slice all-or-nothing.
 */
export async function scheduleMessages(
  db: Queryable,
  requests: ScheduleRequest[],
  options: ValidationOptions = {},
): Promise<ScheduleResult> {
  const valid = validateScheduleRequests(requests, options);
  if (valid.length === 0) return { scheduled: 0, duplicates: 0, ids: [] };
  await assertTenantsExist(db, valid.map((r) => r.tenantId));

  const ids: string[] = [];
  for (let start = 0; start < valid.length; start += INSERT_SLICE) {
    const rows = valid.slice(start, start + INSERT_SLICE).map((r) => ({
      tenant_id: r.tenantId,
      contact_id: r.contactId ?? null,
      lead_id: r.leadId ?? null,
      channel: r.channel,
      recipient: r.recipient,
      scheduled_at: r.scheduledAt.toISOString(),
      template: r.template,
      subject: r.subject ?? null,
      variables: r.variables ?? {},
      tone: r.tone ?? null,
      type: r.type ?? 'followup',
      personalize: r.personalize ?? false,
      context_hints: r.contextHints ?? null,
      idempotency_key: r.idempotencyKey,
      skip_if_completed: r.skipIfCompleted ?? false,
      action_item_id: r.actionItemId ?? null,
      stop_on_reply: r.stopOnReply ?? false,
      recurrence_interval_seconds: r.recurrenceIntervalSeconds ?? null,
    }));
    const result = await db.query<{ ids: string[] | null }>(
      `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
           tenant_id text, contact_id text, lead_id text, channel text, recipient text,
           scheduled_at timestamptz, template text, subject text, variables jsonb, tone text, type text,
           personalize boolean, context_hints jsonb, idempotency_key text, skip_if_completed boolean,
           action_item_id text, stop_on_reply boolean, recurrence_interval_seconds integer)
       ), inserted AS (
         INSERT INTO scheduled_messages (tenant_id, contact_id, lead_id, channel, recipient, scheduled_at, due_at,
           template, subject, variables, tone, type, personalize, context_hints, idempotency_key,
           skip_if_completed, action_item_id, stop_on_reply, recurrence_interval_seconds)
         SELECT tenant_id, contact_id, lead_id, channel, recipient, scheduled_at, scheduled_at,
           template, subject, variables, tone, type, personalize, context_hints, idempotency_key,
           skip_if_completed, action_item_id, stop_on_reply, recurrence_interval_seconds
         FROM input
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id, due_at
       ), woken AS (
         SELECT pg_notify('${WAKEUP_CHANNEL}', floor(extract(epoch FROM min(due_at)) * 1000)::bigint::text)
         FROM inserted HAVING count(*) > 0
       )
       SELECT (SELECT array_agg(id::text) FROM inserted) AS ids, (SELECT count(*) FROM woken) AS woken`,
      [JSON.stringify(rows)],
    );
    ids.push(...(result.rows[0]?.ids ?? []));
  }
  return { scheduled: ids.length, duplicates: valid.length - ids.length, ids };
}

/**
 * Cancels rows not yet being sent ('scheduled' or 'claimed') by idempotency key; returns how many
 * were cancelled. The key a recurring message was created with cancels its series: whichever
 * occurrence is current (each carries that key as series_key, migration 0008), and no occurrence
 * after it.
 */
export async function cancelMessages(db: Queryable, idempotencyKeys: string[]): Promise<number> {
  if (!Array.isArray(idempotencyKeys) || idempotencyKeys.some((k) => typeof k !== 'string' || k.length === 0)) {
    throw new ValidationError([{ field: 'idempotencyKeys', message: 'must be a list of non-empty strings' }]);
  }
  if (idempotencyKeys.length === 0) return 0;
  // First every open occurrence of the matching series is locked, and those already in a
  // provider's hands ('sending', 'unknown') stop recurring, so their "sent" mark inserts no next
  // occurrence. The lock waits for a "sent" mark (dispatcher or markSent) that holds such a row
  // right now; the next statement, with a fresh snapshot, then sees the occurrence that mark
  // inserted and cancels it. Either way a series cancelled while an occurrence is sent stops.
  await db.query(
    `UPDATE scheduled_messages
        SET recurrence_interval_seconds = CASE WHEN status IN ('sending', 'unknown') THEN NULL ELSE recurrence_interval_seconds END
      WHERE (idempotency_key = ANY($1::text[]) OR series_key = ANY($1::text[]))
        AND status IN ('scheduled', 'claimed', 'sending', 'unknown') AND recurrence_interval_seconds IS NOT NULL`,
    [idempotencyKeys],
  );
  // A row already 'sending' is in a provider's hands: cancelling it now could not unsend it. A
  // 'claimed' row is only in a dispatcher's local queue: its 'sending' mark requires 'claimed', so
  // once cancelled here it is never sent.
  const result = await db.query(
    `UPDATE scheduled_messages
        SET status = 'cancelled', skip_reason = 'cancelled', lease_expires_at = NULL, updated_at = now()
      WHERE (idempotency_key = ANY($1::text[]) OR series_key = ANY($1::text[])) AND status IN ('scheduled', 'claimed')`,
    [idempotencyKeys],
  );
  return result.rowCount;
}

/**
 * Moves rows not yet being sent ('scheduled', or 'claimed' by a dispatcher that has not started
 * the send: its claim is dropped) to a new time, and wakes the dispatcher; returns how many moved.
 */
export async function rescheduleMessage(db: Queryable, idempotencyKey: string, scheduledAt: Date): Promise<number> {
  if (typeof idempotencyKey !== 'string' || idempotencyKey.length === 0) {
    throw new ValidationError([{ field: 'idempotencyKey', message: 'required' }]);
  }
  if (!(scheduledAt instanceof Date) || Number.isNaN(scheduledAt.getTime())) {
    throw new ValidationError([{ field: 'scheduledAt', message: 'not a valid time' }]);
  }
  const result = await db.query<{ moved: string }>(
    `WITH moved AS (
       UPDATE scheduled_messages
          SET scheduled_at = $2, due_at = $2, status = 'scheduled', claimed_by = NULL, lease_expires_at = NULL,
              updated_at = now()
        WHERE idempotency_key = $1 AND status IN ('scheduled', 'claimed')
        RETURNING due_at
     ), woken AS (
       SELECT pg_notify('${WAKEUP_CHANNEL}', floor(extract(epoch FROM min(due_at)) * 1000)::bigint::text)
       FROM moved HAVING count(*) > 0
     )
     SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM woken) AS woken`,
    [idempotencyKey, scheduledAt.toISOString()],
  );
  return Number(result.rows[0]?.moved ?? 0);
}

async function assertTenantsExist(db: Queryable, tenantIds: string[]): Promise<void> {
  const wanted = [...new Set(tenantIds)];
  const found = await db.query<{ id: string }>('SELECT id FROM tenants WHERE id = ANY($1::text[])', [wanted]);
  const known = new Set(found.rows.map((r) => r.id));
  const missing = wanted.filter((id) => !known.has(id));
  if (missing.length > 0) {
    throw new ValidationError(
      missing.map((id) => ({
        field: tenantIds.length > 1 ? `requests[${tenantIds.indexOf(id)}].tenantId` : 'tenantId',
        message: `unknown tenant "${id}"`,
      })),
    );
  }
}
