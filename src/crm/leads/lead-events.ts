import type { Database } from '../../db/database';
import { NotFoundError } from '../errors';
import { stopEnrollmentsOf } from '../nurture/nurture';

/**
 * A reply from a contact: its open leads' no-reply clocks restart (a new silent period for the
 * lead-reminder-scheduler) and its active nurture sequences stop, in one transaction.
 */
export function recordContactReply(db: Database, contactId: string, at: Date): Promise<{ leadsUpdated: number; nurtureStepsCancelled: number }> {
  return db.transaction(async (tx) => {
    const contact = await tx.query('SELECT 1 FROM contacts WHERE id = $1', [contactId]);
    if (contact.rows.length === 0) throw new NotFoundError(`contact ${contactId} not found`);
    const leads = await tx.query(
      `UPDATE leads SET last_reply_at = greatest(coalesce(last_reply_at, $2), $2) WHERE contact_id = $1 AND status = 'open'`,
      [contactId, at],
    );
    const nurtureStepsCancelled = await stopEnrollmentsOf(tx, { contactId }, 'reply');
    return { leadsUpdated: leads.rowCount, nurtureStepsCancelled };
  });
}

/** A lead converted: it gets no more reminders and its nurture sequences stop. */
export function convertLead(db: Database, leadId: string): Promise<{ converted: boolean; nurtureStepsCancelled: number }> {
  return db.transaction(async (tx) => {
    const lead = await tx.query<{ status: string }>('SELECT status FROM leads WHERE id = $1 FOR UPDATE', [leadId]);
    if (!lead.rows[0]) throw new NotFoundError(`lead ${leadId} not found`);
    const converted = await tx.query(`UPDATE leads SET status = 'converted', converted_at = now() WHERE id = $1 AND status = 'open'`, [leadId]);
    const nurtureStepsCancelled = await stopEnrollmentsOf(tx, { leadId }, 'conversion');
    return { converted: converted.rowCount > 0, nurtureStepsCancelled };
  });
}
