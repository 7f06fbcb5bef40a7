import type { Queryable } from '../db/database';

/** A reply from a contact (or about a lead), however it entered. */
export interface IncomingReply {
  tenantId: string;
  contactId?: string | null;
  /**
   * The leads the reply answers for: one row per lead, so a stop-on-reply message scheduled for
   * a lead alone (the auto follow-up rule knows only the lead) is stopped too. Empty: the contact's.
   */
  leadIds?: readonly string[];
  /** The outbox message it answers, when known (a follow-up's recorded response). */
  messageId?: string | null;
  channel?: string | null;
  body?: string | null;
  receivedAt: Date;
}

/**
 * The one door for replies. Every way a reply enters — the CRM's
 * POST /api/contacts/:id/replies, a follow-up's recorded response (FollowUpService.recordResponse,
 * POST /api/followups/responses), inbound messages later — calls this, and it writes the one
 * record every check reads: contact_replies. Read by the dispatcher's send-time check of
 * stop-on-reply messages (outbox/claim.ts), the nurture-sequences job and the lead-reminder-scheduler.
 * This module and the SQL function it calls are the only writer of contact_replies. Runs in the
 * caller's transaction.
 */
export async function recordReply(db: Queryable, reply: IncomingReply): Promise<{ recorded: number }> {
  // The SQL door's record_reply (migration 0009) is the one writer; this door only calls it.
  const result = await db.query<{ recorded: number }>(
    `SELECT record_reply(tenant_id => $1, contact_id => $2, lead_ids => $3::text[], message_id => $4::bigint,
                         channel => $5, body => $6, received_at => $7) AS recorded`,
    [
      reply.tenantId,
      reply.contactId ?? null,
      reply.leadIds ? [...reply.leadIds] : null,
      reply.messageId ?? null,
      reply.channel ?? null,
      reply.body ?? null,
      reply.receivedAt.toISOString(),
    ],
  );
  return { recorded: Number(result.rows[0]?.recorded ?? 0) };
}
