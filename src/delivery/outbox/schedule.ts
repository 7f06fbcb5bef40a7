import type { Database, Queryable } from '../../db/database';
import type { ChannelName } from '../../channels/channel';
import { isSystemKey, requestFingerprint } from '../idempotency-keys';
import { IdempotencyKeyConflictError } from '../key-conflict-error';
import { classOfType, type MessageClass } from '../message-class';
import { validateScheduleRequests, type ValidScheduleRequest, type ValidationOptions } from '../schedule-request';
import { ValidationError } from '../validation-error';
import { insertOutboxRows, sameNames } from './new-rows';
import { wakeUpAfter } from './wakeup';

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
  /** Which due messages go first (message-class.ts); by default the type's class. */
  class?: MessageClass;
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
  /**
   * The caller's W3C traceparent: the send's span joins that trace as its child. Not part of the
   * request's identity: the same message scheduled again from another trace is a duplicate.
   */
  traceparent?: string | null;
}

export interface ScheduleResult {
  scheduled: number;
  duplicates: number;
  /** Ids of the rows this call inserted (duplicates excluded), in no particular order. */
  ids: string[];
}

/** The request fields as the statement's JSON input names them: the outbox's own column names. */
const INPUT_COLUMNS = [
  'tenant_id',
  'contact_id',
  'lead_id',
  'channel',
  'recipient',
  'scheduled_at',
  'template',
  'subject',
  'variables',
  'tone',
  'type',
  'class',
  'personalize',
  'context_hints',
  'idempotency_key',
  'skip_if_completed',
  'action_item_id',
  'stop_on_reply',
  'recurrence_interval_seconds',
  'request_fingerprint',
  'traceparent',
] as const;

// Large schedules go in slices so one statement's JSON parameter stays a few megabytes.
const INSERT_SLICE = 2_000;

/**
 * Validates all requests first (throws ValidationError naming the field; nothing written), then
 * INSERT ... ON CONFLICT (tenant_id, idempotency_key) DO NOTHING with the wake-up NOTIFY for
 * the dispatchers. A caller's key already stored with a different payload throws
 * IdempotencyKeyConflictError and nothing of the call is kept. Runs in the caller's transaction
 * when `db` is one, else in its own, so a batch is all-or-nothing either way. Each slice is one
 * statement (insert and notify together): no row exists without its wake-up.
 */
export async function scheduleMessages(db: Queryable, requests: ScheduleRequest[], options: ValidationOptions = {}): Promise<ScheduleResult> {
  const valid = validateScheduleRequests(requests, options);
  if (valid.length === 0) return { scheduled: 0, duplicates: 0, ids: [] };
  await assertTenantsExist(
    db,
    valid.map((r) => r.tenantId),
  );

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
        class: r.class ?? classOfType(r.type),
        personalize: r.personalize ?? false,
        context_hints: r.contextHints ?? null,
        idempotency_key: r.idempotencyKey,
        skip_if_completed: r.skipIfCompleted ?? false,
        action_item_id: r.actionItemId ?? null,
        stop_on_reply: r.stopOnReply ?? false,
        recurrence_interval_seconds: r.recurrenceIntervalSeconds ?? null,
        request_fingerprint: fingerprints[start + i],
        traceparent: r.traceparent ?? null,
      }));
      const result = await q.query<{ ids: string[] | null }>(
        `WITH input AS (
           SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
             tenant_id text, contact_id text, lead_id text, channel text, recipient text,
             scheduled_at timestamptz, template text, subject text, variables jsonb, tone text, type text, class text,
             personalize boolean, context_hints jsonb, idempotency_key text, skip_if_completed boolean,
             action_item_id text, stop_on_reply boolean, recurrence_interval_seconds integer, request_fingerprint text,
             traceparent text)
         ), inserted AS (
           ${insertOutboxRows({ values: { ...sameNames(INPUT_COLUMNS), due_at: 'scheduled_at' }, from: 'input', returning: 'id, due_at' })}
         ), woken AS (
           ${wakeUpAfter('inserted', 'earliest-due')}
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
