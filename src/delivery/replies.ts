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
 * stop-on-reply messages (claims.ts), the nurture-sequences job and the lead-reminder-scheduler.
 * This module is the only writer of contact_replies. Runs in the caller's transaction.
 */
export async function recordReply(db: Queryable, reply: IncomingReply): Promise<{ recorded: number }> {
  const leads: Array<string | null> = reply.leadIds && reply.leadIds.length > 0 ? [...new Set(reply.leadIds)] : [null];
  const result = await db.query(
    `INSERT INTO contact_replies (tenant_id, contact_id, lead_id, message_id, channel, body, received_at)
     SELECT $1, $2, lead_id, $4, $5, $6, $7 FROM unnest($3::text[]) AS l(lead_id)`,
    [
      reply.tenantId,
      reply.contactId ?? null,
      leads,
      reply.messageId ?? null,
      reply.channel ?? null,
      reply.body ?? null,
      reply.receivedAt.toISOString(),
    ],
  );
  return { recorded: result.rowCount };
}
