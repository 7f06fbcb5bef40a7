import type { Queryable } from '../../db/database';
import { classOfType } from '../../delivery/message-class';
import { insertOutboxRows, wakeUpAfter } from '../../delivery/outbox';

export interface BatchOutcome {
  /** Contacts read from the audience in this batch (0 means the campaign is not expanding). */
  read: number;
  queued: number;
  skipped: number;
  /** True when this batch reached the end of the audience. */
  finished: boolean;
}

/** Keys are deterministic per (campaign, contact): the outbox refuses a second row for one. */
export function campaignMessageKey(campaignId: string, contactId: string): string {
  return `campaign:${campaignId}:${contactId}`;
}

/**
 * The audience as a keyset window: the next `limit` contact ids after the cursor, read in index
 * order — a list from its membership primary key (list_id, contact_id), a segment from contacts
 * (tenant_id, id) filtered by tags. The campaign's values come in as scalar subqueries so the
 * planner walks the index from the cursor and stops at the limit: each batch costs the same
 * whether it is the first or the thousandth of the campaign.
 */
const LIST_WINDOW = `
  SELECT m.contact_id FROM contact_list_members m
   WHERE m.list_id = (SELECT list_id FROM camp)
     AND m.contact_id > (SELECT coalesce(cursor_contact_id, '') FROM camp)
   ORDER BY m.contact_id
   LIMIT $2`;
const SEGMENT_WINDOW = `
  SELECT c.id AS contact_id FROM contacts c
   WHERE c.tenant_id = (SELECT tenant_id FROM camp)
     AND c.id > (SELECT coalesce(cursor_contact_id, '') FROM camp)
     AND c.tags @> (SELECT s.tags FROM segments s WHERE s.id = (SELECT segment_id FROM camp))
   ORDER BY c.id
   LIMIT $2`;

/**
 * Expands one batch of a campaign that is 'sending', in ONE statement (so in one transaction
 * with the cursor move): read the next `limit` audience contacts after the cursor, record each
 * as a recipient (queued, or skipped when opted out or without an address), insert an outbox
 * row per newly queued recipient straight from SQL, advance the cursor and the counts.
 * Nothing is loaded into Node but the counts: a 1,000,000-recipient campaign costs the same
 * memory as a 100-recipient one.
 *
 * Rows go into the delivery engine's scheduled_messages through the outbox's own insert
 * (insertOutboxRows, its column list) and wake-up NOTIFY. Campaigns bypass scheduleMessages()
 * (which takes rows from Node) for bulk INSERT ... SELECT; what it would check per request is checked here in SQL (address shape,
 * suppressions) and once per campaign at creation (the template, see campaign-template.ts).
 * Exactly-once holds twice over: campaign_recipients (campaign_id, contact_id) and the outbox's
 * unique idempotency key. A paused or cancelled campaign reads no rows: the FOR UPDATE on the
 * campaign row serializes with the pause/cancel API.
 */
export async function expandCampaignBatch(tx: Queryable, campaignId: string, limit: number, audience: 'list' | 'segment'): Promise<BatchOutcome> {
  const result = await tx.query<{ read: number; queued: number; skipped: number }>(
    `WITH camp AS (
       SELECT id, tenant_id, name, channel, subject, template, send_at, list_id, segment_id, cursor_contact_id
         FROM campaigns WHERE id = $1 AND status = 'sending' AND expanded_at IS NULL
          FOR UPDATE
     ),
     keyset AS (${audience === 'list' ? LIST_WINDOW : SEGMENT_WINDOW}),
     batch AS (
       SELECT c.id AS contact_id, c.name, c.email, c.phone, c.attributes,
              CASE WHEN camp.channel = 'email' THEN c.email ELSE coalesce(c.whatsapp, c.phone) END AS address
         FROM keyset w
         JOIN contacts c ON c.id = w.contact_id
         JOIN camp ON c.tenant_id = camp.tenant_id
     ),
     -- Opt-outs for this batch as two equi-joins (the address as given and lower-cased), which
     -- PostgreSQL can hash, instead of one probe per contact.
     suppressed AS (
       SELECT b.contact_id FROM batch b, camp, suppressions s
        WHERE s.tenant_id = camp.tenant_id AND s.channel IN (camp.channel, '*') AND s.recipient = btrim(b.address)
       UNION
       SELECT b.contact_id FROM batch b, camp, suppressions s
        WHERE s.tenant_id = camp.tenant_id AND s.channel IN (camp.channel, '*') AND s.recipient = lower(btrim(b.address))
     ),
     classified AS (
       SELECT b.*,
              CASE WHEN b.address IS NULL OR btrim(b.address) = '' THEN 'no-address'
                   -- The checks scheduleMessages() applies per request, in SQL: a malformed
                   -- address is skipped here instead of failing later at the provider.
                   WHEN camp.channel = 'email' AND btrim(b.address) !~ '^[^@[:space:]]+@[^@[:space:]]+[.][^@[:space:]]+$' THEN 'invalid-address'
                   WHEN camp.channel = 'whatsapp' AND regexp_replace(btrim(b.address), '^whatsapp:', '') !~ '^[+][1-9][0-9]{6,14}$' THEN 'invalid-address'
                   WHEN b.contact_id IN (SELECT contact_id FROM suppressed) THEN 'opted-out'
              END AS skip_reason
         FROM batch b, camp
     ),
     recorded AS (
       INSERT INTO campaign_recipients (campaign_id, contact_id, status, skip_reason)
       SELECT $1, contact_id, CASE WHEN skip_reason IS NULL THEN 'queued' ELSE 'skipped' END, skip_reason
         FROM classified
       ON CONFLICT (campaign_id, contact_id) DO NOTHING
       RETURNING contact_id, status
     ),
     outbox AS (
       ${insertOutboxRows({
         values: {
           tenant_id: 'camp.tenant_id',
           contact_id: 'k.contact_id',
           channel: 'camp.channel',
           recipient: 'btrim(k.address)',
           scheduled_at: 'camp.send_at',
           due_at: 'camp.send_at',
           template: 'camp.template',
           subject: 'camp.subject',
           variables: `jsonb_build_object(
                'contact', jsonb_build_object('id', k.contact_id, 'name', k.name, 'email', k.email, 'phone', k.phone)
                           || coalesce(k.attributes, '{}'::jsonb),
                'campaign', jsonb_build_object('id', camp.id, 'name', camp.name))`,
           type: `'campaign'`,
           class: `'${classOfType('campaign')}'`,
           status: `'scheduled'`,
           idempotency_key: `'campaign:' || camp.id || ':' || k.contact_id`,
         },
         from: `recorded r
         JOIN classified k ON k.contact_id = r.contact_id
         CROSS JOIN camp
        WHERE r.status = 'queued'`,
         returning: 'due_at',
       })}
     ),
     -- Wakes the delivery dispatchers in the same statement, as scheduleMessages() does.
     woken AS (
       ${wakeUpAfter('outbox', 'earliest-due')}
     ),
     counts AS MATERIALIZED (
       SELECT (SELECT count(*) FROM keyset)::int AS read,
              (SELECT count(*) FROM recorded WHERE status = 'queued')::int AS queued,
              (SELECT count(*) FROM recorded WHERE status = 'skipped')::int AS skipped,
              (SELECT count(*) FROM outbox)::int AS inserted,
              (SELECT count(*) FROM woken)::int AS woken,
              (SELECT max(contact_id) FROM keyset) AS last_contact
     )
     UPDATE campaigns c
        SET cursor_contact_id = coalesce(counts.last_contact, c.cursor_contact_id),
            queued = c.queued + counts.queued,
            skipped = c.skipped + counts.skipped,
            expanded_at = CASE WHEN counts.read < $2 THEN now() END,
            targeted = CASE WHEN counts.read < $2 THEN c.queued + counts.queued + c.skipped + counts.skipped ELSE c.targeted END,
            updated_at = now()
       FROM counts
      WHERE c.id = $1 AND c.id IN (SELECT id FROM camp)
     -- counts.woken is returned so the wake-up is evaluated: a CTE column nobody reads may be
     -- optimised away, and with it the NOTIFY (the dispatcher would only notice at its next poll).
     RETURNING counts.read, counts.queued, counts.skipped, counts.woken`,
    [campaignId, limit],
  );
  const row = result.rows[0];
  if (!row) return { read: 0, queued: 0, skipped: 0, finished: false };
  return { read: row.read, queued: row.queued, skipped: row.skipped, finished: row.read < limit };
}
