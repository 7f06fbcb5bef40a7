import type { Queryable } from '../../db/database';

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

/**
 * Marks a message sent by someone else (the CRM's own concierge) by its key: only a row
 * scheduled, claimed (send not started: the dispatcher's 'sending' mark then fails, so it is not
 * sent) or unknown. Returns the id marked, if any; the caller schedules a recurring row's next
 * occurrence in the same transaction.
 */
export async function markSentByKey(db: Queryable, params: { idempotencyKey: string; sentBy: string; tenantId?: string }): Promise<string | undefined> {
  const marked = await db.query<{ id: string }>(
    `UPDATE scheduled_messages
        SET status = 'sent', sent_at = now(), sent_by = $2, lease_expires_at = NULL, updated_at = now()
      WHERE idempotency_key = $1 AND ($3::text IS NULL OR tenant_id = $3) AND status IN ('scheduled', 'claimed', 'unknown')
      RETURNING id::text AS id`,
    [params.idempotencyKey, params.sentBy, params.tenantId ?? null],
  );
  return marked.rows[0]?.id;
}
