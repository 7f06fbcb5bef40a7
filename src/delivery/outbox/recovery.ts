import type { Queryable } from '../../db/database';
import type { ChannelName } from '../../channels/channel';
import { wakeUpAfter } from './wakeup';

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
       ${wakeUpAfter('returned', 'look-now')}
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
 * The one redrive (the API's and the operator CLI's): dead or failed rows back to 'scheduled',
 * due now, attempts reset, claim cleared, in one statement with the wake-up. The redrive, who
 * asked, why, and the last error are appended to `resolution` with a UTC time, so a row redriven
 * twice keeps both records. Only rows in `status` change; returns the ids redriven.
 */
export async function redriveMessages(
  db: Queryable,
  params: { status: 'dead' | 'failed'; ids?: readonly string[]; tenantId?: string; by: string; reason?: string },
): Promise<string[]> {
  const result = await db.query<{ ids: string[] | null }>(
    `WITH redriven AS (
       UPDATE scheduled_messages
          SET status = 'scheduled', due_at = now(), attempts = 0, claimed_by = NULL, lease_expires_at = NULL,
              skip_reason = NULL, updated_at = now(),
              resolution = concat_ws(E'\\n', resolution,
                                     to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z" ')
                                     || 'redriven by ' || $4 || ' after ' || status || coalesce(': ' || $5, '')
                                     || coalesce('; last error: ' || last_error, ''))
        WHERE status = $1 AND ($2::bigint[] IS NULL OR id = ANY($2::bigint[])) AND ($3::text IS NULL OR tenant_id = $3)
        RETURNING id, due_at
     ), woken AS (
       ${wakeUpAfter('redriven', 'earliest-due')}
     )
     SELECT (SELECT array_agg(id::text) FROM redriven) AS ids, (SELECT count(*) FROM woken) AS woken`,
    [params.status, params.ids ?? null, params.tenantId ?? null, params.by, params.reason ?? null],
  );
  return result.rows[0]?.ids ?? [];
}

/**
 * An operator's verdict on a row whose outcome is unknown: 'sent' (the provider has it), 'failed'
 * (it does not, and should not be sent) or 'resend' (due now, with the wake-up). Only an
 * 'unknown' row changes; returns whether it did.
 */
export async function resolveUnknownOutcome(db: Queryable, id: string, outcome: 'sent' | 'failed' | 'resend'): Promise<boolean> {
  const result = await db.query<{ resolved: string | number }>(
    `WITH resolved AS (
       UPDATE scheduled_messages
          SET status = CASE $2::text WHEN 'resend' THEN 'scheduled' ELSE $2::text END,
              due_at = CASE $2::text WHEN 'resend' THEN now() ELSE due_at END,
              sent_at = CASE $2::text WHEN 'sent' THEN coalesce(sent_at, now()) ELSE sent_at END,
              sent_by = CASE $2::text WHEN 'sent' THEN coalesce(sent_by, 'operator') ELSE sent_by END,
              claimed_by = NULL, resolution = 'operator: ' || $2::text, updated_at = now()
        WHERE id = $1 AND status = 'unknown'
        RETURNING id, due_at, status
     ), woken AS (
       ${wakeUpAfter(`(SELECT due_at FROM resolved WHERE status = 'scheduled') AS resent`, 'look-now')}
     )
     SELECT (SELECT count(*) FROM resolved) AS resolved, (SELECT count(*) FROM woken) AS woken`,
    [id, outcome],
  );
  return Number(result.rows[0]?.resolved ?? 0) > 0;
}
