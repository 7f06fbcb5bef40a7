import type { Database } from '../../db/database';
import { recordReply } from '../../delivery/replies';
import { NotFoundError } from '../errors';
import { stopEnrollmentsOf } from '../nurture/nurture';
import { markLeadConverted } from './lead-store';

/**
 * A reply from a contact, recorded through the delivery engine's one door for replies
 * (delivery/replies.ts), for the contact and each of its open leads: from then on the contact's
 * stop-on-reply messages are skipped at send time, its leads' no-reply clocks restart (the
 * lead-reminder-scheduler reads the same record) and, in the same transaction, its active
 * nurture sequences stop (the nurture-sequences job would stop them on its next tick anyway).
 *
 * This once wrote leads.last_reply_at instead, which the send-time check never read:
 * an auto follow-up still went out after the lead had answered.
 */
export function recordContactReply(
  db: Database,
  contactId: string,
  at: Date,
  /** How the reply came in, when known (an inbound SMS: its channel and text). */
  details: { channel?: string; body?: string } = {},
): Promise<{ leadsUpdated: number; nurtureStepsCancelled: number }> {
  return db.transaction(async (tx) => {
    const contact = await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM contacts WHERE id = $1', [contactId]);
    const tenantId = contact.rows[0]?.tenant_id;
    if (tenantId === undefined) throw new NotFoundError(`contact ${contactId} not found`);
    const leads = await tx.query<{ id: string }>(`SELECT id FROM leads WHERE contact_id = $1 AND status = 'open' ORDER BY id`, [contactId]);
    await recordReply(tx, { tenantId, contactId, leadIds: leads.rows.map((l) => l.id), receivedAt: at, channel: details.channel, body: details.body });
    const nurtureStepsCancelled = await stopEnrollmentsOf(tx, { contactId }, 'reply');
    return { leadsUpdated: leads.rows.length, nurtureStepsCancelled };
  });
}

/** A lead converted: it gets no more reminders and its nurture sequences stop. */
export function convertLead(db: Database, leadId: string): Promise<{ converted: boolean; nurtureStepsCancelled: number }> {
  return db.transaction(async (tx) => {
    const lead = await tx.query<{ status: string }>('SELECT status FROM leads WHERE id = $1 FOR UPDATE', [leadId]);
    if (!lead.rows[0]) throw new NotFoundError(`lead ${leadId} not found`);
    const converted = await markLeadConverted(tx, leadId);
    const nurtureStepsCancelled = await stopEnrollmentsOf(tx, { leadId }, 'conversion');
    return { converted, nurtureStepsCancelled };
  });
}
