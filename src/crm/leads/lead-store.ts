import type { Queryable } from '../../db/database';
import type { LeadInput, LeadStatus } from './lead-schema';

/**
 * The one owner of writes to `leads` (STYLE 14): the CRM's upsert and the conversion route's
 * transition (lead-events.ts). Replies are not written here: they are contact_replies, written
 * by the delivery engine's one door (delivery/replies.ts). Jobs only read leads.
 */

export interface LeadRow {
  id: string;
  tenant_id: string;
  contact_id: string;
  status: LeadStatus;
  last_reply_at: Date | null;
  converted_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** What an upsert did to the lead; the refusals write nothing. */
export type LeadUpsertOutcome =
  | 'created'
  | 'updated'
  | 'unchanged'
  | 'unknown-tenant'
  /** No such contact in the lead's tenant (a contact of another tenant is unknown to it). */
  | 'unknown-contact'
  /** The id is another tenant's lead: leads do not move between tenants. */
  | 'other-tenant'
  /** The id is the lead of another contact: a lead's reminders and nurture belong to its contact. */
  | 'other-contact';

const FOREIGN_KEY_VIOLATION = '23503';

/**
 * Inserts or replaces a lead in one statement. The same body twice leaves one identical row
 * (updated_at included). converted_at is set when the lead becomes converted, kept while it
 * stays so, and cleared when the CRM reopens or loses it.
 */
export async function upsertLead(db: Queryable, lead: LeadInput): Promise<LeadUpsertOutcome> {
  let written;
  try {
    written = await db.query<{ refused: LeadUpsertOutcome | null; inserted: boolean | null }>(
      `WITH refused AS (
         SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM tenants WHERE id = $2) THEN 'unknown-tenant'
                     WHEN NOT EXISTS (SELECT 1 FROM contacts WHERE id = $3 AND tenant_id = $2) THEN 'unknown-contact'
                END AS outcome
       ), written AS (
         INSERT INTO leads AS l (id, tenant_id, contact_id, status, converted_at)
         SELECT $1, $2, $3, $4, CASE WHEN $4 = 'converted' THEN now() END FROM refused WHERE outcome IS NULL
         ON CONFLICT (id) DO UPDATE
            SET status = EXCLUDED.status,
                converted_at = CASE WHEN EXCLUDED.status = 'converted' THEN coalesce(l.converted_at, now()) END,
                updated_at = now()
          -- A lead another request inserted meanwhile is not moved either.
          WHERE l.tenant_id = EXCLUDED.tenant_id AND l.contact_id = EXCLUDED.contact_id AND l.status <> EXCLUDED.status
         RETURNING xmax = 0 AS inserted
       )
       SELECT (SELECT outcome FROM refused) AS refused, (SELECT inserted FROM written) AS inserted`,
      [lead.id, lead.tenantId, lead.contactId, lead.status],
    );
  } catch (err) {
    // The contact was deleted between the check and the insert.
    if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) return 'unknown-contact';
    throw err;
  }
  const { refused, inserted } = written.rows[0]!;
  if (refused) return refused;
  if (inserted !== null) return inserted ? 'created' : 'updated';
  // Nothing written: the stored lead either holds exactly this or belongs elsewhere.
  const stored = (await getLead(db, lead.id))!;
  if (stored.tenant_id !== lead.tenantId) return 'other-tenant';
  if (stored.contact_id !== lead.contactId) return 'other-contact';
  return 'unchanged';
}

/**
 * The lead as the CRM reads it back. `last_reply_at` is the latest reply the jobs count (the
 * same greatest() the lead-reminder-scheduler reads): one recorded on the lead itself, or, as
 * every reply through the replies door is, in contact_replies for its contact.
 */
export async function getLead(db: Queryable, id: string): Promise<LeadRow | undefined> {
  const result = await db.query<LeadRow>(
    `SELECT l.id, l.tenant_id, l.contact_id, l.status, l.converted_at, l.created_at, l.updated_at,
            greatest(l.last_reply_at,
                     (SELECT max(cr.received_at) FROM contact_replies cr
                       WHERE cr.tenant_id = l.tenant_id AND cr.contact_id = l.contact_id)) AS last_reply_at
       FROM leads l WHERE l.id = $1`,
    [id],
  );
  return result.rows[0];
}

/**
 * The conversion route's transition: an open lead becomes converted (a lost or converted one is
 * left as it is). Returns whether it changed; the caller has locked the row.
 */
export async function markLeadConverted(db: Queryable, id: string): Promise<boolean> {
  const converted = await db.query(`UPDATE leads SET status = 'converted', converted_at = now(), updated_at = now() WHERE id = $1 AND status = 'open'`, [id]);
  return converted.rowCount > 0;
}
