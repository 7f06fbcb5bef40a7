import type { Queryable } from '../../db/database';
import { ValidationError } from '../validation-error';
import { wakeUpAfter } from './wakeup';

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
       ${wakeUpAfter('moved', 'earliest-due')}
     )
     SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM woken) AS woken`,
    [idempotencyKey, scheduledAt.toISOString(), tenantId ?? null],
  );
  return Number(result.rows[0]?.moved ?? 0);
}
