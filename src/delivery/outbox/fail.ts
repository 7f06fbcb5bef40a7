import type { Queryable } from '../../db/database';

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
