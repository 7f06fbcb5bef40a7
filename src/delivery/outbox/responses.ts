import type { Queryable } from '../../db/database';

/**
 * A contact's reply kept on the message it answers (the reply itself is recorded for every
 * stop-on-reply check by replies.ts, in the same transaction). Changes no status.
 */
export async function recordMessageResponse(db: Queryable, params: { id: string; receivedAt: Date; text: string }): Promise<void> {
  await db.query(`UPDATE scheduled_messages SET response_received_at = $2, response_text = $3, updated_at = now() WHERE id = $1`, [
    params.id,
    params.receivedAt.toISOString(),
    params.text,
  ]);
}
