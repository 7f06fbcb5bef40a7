import type { Database, Queryable } from '../db/database';
import type { ChannelName } from '../channels/channel';
import { isSystemKey, requestFingerprint } from './idempotency-keys';
import { IdempotencyKeyConflictError } from './key-conflict-error';
import { validateScheduleRequests, type ValidScheduleRequest, type ValidationOptions } from './schedule-request';
import { ValidationError } from './validation-error';

export type { ChannelName } from '../channels/channel';
export { ValidationError } from './validation-error';
export { IdempotencyKeyConflictError } from './key-conflict-error';

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
  /**
   * Unique per tenant. The same key with the same payload again is one row (a duplicate); with a
   * different payload it is refused (IdempotencyKeyConflictError), except for the keys
   * crm-worker makes itself (idempotency-keys.ts), whose first row stands.
   */
  idempotencyKey: string;
  skipIfCompleted?: boolean;
  actionItemId?: string | null;
  stopOnReply?: boolean;
  personalize?: boolean;
  /** Facts the AI personalization may use (ai_context_hints in the CRM's schema). */
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
 * INSERT ... ON CONFLICT (tenant_id, idempotency_key) DO NOTHING and pg_notify to wake the
 * dispatcher. A caller's key already stored with a different payload throws
 * IdempotencyKeyConflictError and nothing of the call is kept. Runs in the caller's transaction
 * when `db` is one, else in its own, so a batch is all-or-nothing either way. Each slice is one
 * statement (insert and notify together): no row exists without its wake-up.
 */
export async function scheduleMessages(
  db: Queryable,
  requests: ScheduleRequest[],
  options: ValidationOptions = {},
): Promise<ScheduleResult> {
  const valid = validateScheduleRequests(requests, options);
  if (valid.length === 0) return { scheduled: 0, duplicates: 0, ids: [] };
  await assertTenantsExist(db, valid.map((r) => r.tenantId));

  const fingerprints = valid.map(requestFingerprint);
  const insertAll = async (q: Queryable): Promise<ScheduleResult> => {
    const ids: string[] = [];
    for (let start = 0; start < valid.length; start += INSERT_SLICE) {
      const rows = valid.slice(start, start + INSERT_SLICE).map((r, i) => ({
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
        request_fingerprint: fingerprints[start + i],
      }));
      const result = await q.query<{ ids: string[] | null }>(
        `WITH input AS (
           SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
             tenant_id text, contact_id text, lead_id text, channel text, recipient text,
             scheduled_at timestamptz, template text, subject text, variables jsonb, tone text, type text,
             personalize boolean, context_hints jsonb, idempotency_key text, skip_if_completed boolean,
             action_item_id text, stop_on_reply boolean, recurrence_interval_seconds integer, request_fingerprint text)
         ), inserted AS (
           INSERT INTO scheduled_messages (tenant_id, contact_id, lead_id, channel, recipient, scheduled_at, due_at,
             template, subject, variables, tone, type, personalize, context_hints, idempotency_key,
             skip_if_completed, action_item_id, stop_on_reply, recurrence_interval_seconds, request_fingerprint)
           SELECT tenant_id, contact_id, lead_id, channel, recipient, scheduled_at, scheduled_at,
             template, subject, variables, tone, type, personalize, context_hints, idempotency_key,
             skip_if_completed, action_item_id, stop_on_reply, recurrence_interval_seconds, request_fingerprint
           FROM input
           ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
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
    await refuseConflictingKeys(q, valid, fingerprints);
    return { scheduled: ids.length, duplicates: valid.length - ids.length, ids };
  };
  return isDatabase(db) ? db.transaction(insertAll) : insertAll(db);
}

/**
 * After the insert, so a row a concurrent call committed under the same key is seen too (the
 * insert waited for it): every caller key must now hold this call's payload. Keys crm-worker made
 * itself are left out: a module that schedules again (the auto follow-up rule for a lead reported
 * twice, a campaign batch redone after a crash) keeps its first row by design.
 */
async function refuseConflictingKeys(db: Queryable, valid: ValidScheduleRequest[], fingerprints: string[]): Promise<void> {
  const checked = valid.map((r, i) => ({ r, fingerprint: fingerprints[i]! })).filter(({ r }) => !isSystemKey(r.idempotencyKey));
  if (checked.length === 0) return;
  const stored = await db.query<{ tenant_id: string; idempotency_key: string; request_fingerprint: string | null }>(
    `SELECT m.tenant_id, m.idempotency_key, m.request_fingerprint
       FROM scheduled_messages m
       JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, idempotency_key)
         ON m.idempotency_key = k.idempotency_key AND m.tenant_id = k.tenant_id`,
    [checked.map(({ r }) => r.tenantId), checked.map(({ r }) => r.idempotencyKey)],
  );
  const storedBy = new Map(stored.rows.map((row) => [`${row.tenant_id}\u0000${row.idempotency_key}`, row.request_fingerprint]));
  const conflicts = new Map<string, { tenantId: string; idempotencyKey: string }>();
  for (const { r, fingerprint } of checked) {
    const id = `${r.tenantId}\u0000${r.idempotencyKey}`;
    const theirs = storedBy.get(id);
    // NULL: a row from before migration 0007, whose payload was never recorded; a repeat stays a duplicate.
    if (theirs !== null && theirs !== undefined && theirs !== fingerprint) {
      conflicts.set(id, { tenantId: r.tenantId, idempotencyKey: r.idempotencyKey });
    }
  }
  if (conflicts.size > 0) throw new IdempotencyKeyConflictError([...conflicts.values()]);
}

function isDatabase(db: Queryable): db is Database {
  return typeof (db as Partial<Database>).transaction === 'function';
}

/**
 * Keys are unique per tenant: without a tenant, a key two tenants use names two messages, and
 * acting on both would let one tenant's request touch the other's message. Refused instead.
 */
export async function assertKeysUnambiguous(db: Queryable, idempotencyKeys: readonly string[], tenantId: string | undefined): Promise<void> {
  if (tenantId !== undefined) {
    if (typeof tenantId !== 'string' || tenantId.trim() === '') throw new ValidationError([{ field: 'tenantId', message: 'must be a non-empty string' }]);
    return;
  }
  const shared = await db.query<{ idempotency_key: string }>(
    `SELECT idempotency_key FROM scheduled_messages WHERE idempotency_key = ANY($1::text[])
      GROUP BY idempotency_key HAVING count(*) > 1 LIMIT 1`,
    [idempotencyKeys],
  );
  const key = shared.rows[0]?.idempotency_key;
  if (key !== undefined) {
    throw new ValidationError([{ field: 'tenantId', message: `required: idempotency key "${key}" is used by more than one tenant` }]);
  }
}

/**
 * Cancels rows not yet being sent ('scheduled' or 'claimed') by idempotency key, within one
 * tenant when given; returns how many were cancelled. The key a recurring message was created
 * with cancels its series: whichever occurrence is current (each carries that key as series_key,
 * migration 0008), and no occurrence after it.
 */
export async function cancelMessages(db: Queryable, idempotencyKeys: string[], tenantId?: string): Promise<number> {
  if (!Array.isArray(idempotencyKeys) || idempotencyKeys.some((k) => typeof k !== 'string' || k.length === 0)) {
    throw new ValidationError([{ field: 'idempotencyKeys', message: 'must be a list of non-empty strings' }]);
  }
  if (idempotencyKeys.length === 0) return 0;
  await assertKeysUnambiguous(db, idempotencyKeys, tenantId);
  // First every open occurrence of the matching series is locked, and those already in a
  // provider's hands ('sending', 'unknown') stop recurring, so their "sent" mark inserts no next
  // occurrence. The lock waits for a "sent" mark (dispatcher or markSent) that holds such a row
  // right now; the next statement, with a fresh snapshot, then sees the occurrence that mark
  // inserted and cancels it. Either way a series cancelled while an occurrence is sent stops.
  await db.query(
    `UPDATE scheduled_messages
        SET recurrence_interval_seconds = CASE WHEN status IN ('sending', 'unknown') THEN NULL ELSE recurrence_interval_seconds END
      WHERE (idempotency_key = ANY($1::text[]) OR series_key = ANY($1::text[])) AND ($2::text IS NULL OR tenant_id = $2)
        AND status IN ('scheduled', 'claimed', 'sending', 'unknown') AND recurrence_interval_seconds IS NOT NULL`,
    [idempotencyKeys, tenantId ?? null],
  );
  // A row already 'sending' is in a provider's hands: cancelling it now could not unsend it. A
  // 'claimed' row is only in a dispatcher's local queue: its 'sending' mark requires 'claimed', so
  // once cancelled here it is never sent.
  const result = await db.query(
    `UPDATE scheduled_messages
        SET status = 'cancelled', skip_reason = 'cancelled', lease_expires_at = NULL, updated_at = now()
      WHERE (idempotency_key = ANY($1::text[]) OR series_key = ANY($1::text[])) AND ($2::text IS NULL OR tenant_id = $2)
        AND status IN ('scheduled', 'claimed')`,
    [idempotencyKeys, tenantId ?? null],
  );
  return result.rowCount;
}

/**
 * Moves rows not yet being sent ('scheduled', or 'claimed' by a dispatcher that has not started
 * the send: its claim is dropped) to a new time, and wakes the dispatcher; returns how many moved.
 */
export async function rescheduleMessage(db: Queryable, idempotencyKey: string, scheduledAt: Date, tenantId?: string): Promise<number> {
  if (typeof idempotencyKey !== 'string' || idempotencyKey.length === 0) {
    throw new ValidationError([{ field: 'idempotencyKey', message: 'required' }]);
  }
  if (!(scheduledAt instanceof Date) || Number.isNaN(scheduledAt.getTime())) {
    throw new ValidationError([{ field: 'scheduledAt', message: 'not a valid time' }]);
  }
  await assertKeysUnambiguous(db, [idempotencyKey], tenantId);
  const result = await db.query<{ moved: string }>(
    `WITH moved AS (
       UPDATE scheduled_messages
          SET scheduled_at = $2, due_at = $2, status = 'scheduled', claimed_by = NULL, lease_expires_at = NULL,
              updated_at = now()
        WHERE idempotency_key = $1 AND ($3::text IS NULL OR tenant_id = $3) AND status IN ('scheduled', 'claimed')
        RETURNING due_at
     ), woken AS (
       SELECT pg_notify('${WAKEUP_CHANNEL}', floor(extract(epoch FROM min(due_at)) * 1000)::bigint::text)
       FROM moved HAVING count(*) > 0
     )
     SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM woken) AS woken`,
    [idempotencyKey, scheduledAt.toISOString(), tenantId ?? null],
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
