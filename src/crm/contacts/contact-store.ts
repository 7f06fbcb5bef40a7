import type { Database, Queryable } from '../../db/database';
import { cancelQueuedCallsOfContact } from '../../calls/call-store';
import { cancelMessages } from '../../delivery/outbox';
import type { ContactInput } from './contact-schema';

/**
 * The one owner of writes to `contacts` (STYLE 14): upsert (one, a batch, an import chunk) and
 * delete. Every other room reads contacts and never writes them.
 */

/** What an upsert did to one contact. */
export type UpsertOutcome =
  | 'created'
  | 'updated'
  /** The same contact again: the row, its updated_at included, is left as it was. */
  | 'unchanged'
  /** No such tenant; nothing written. */
  | 'unknown-tenant'
  /** The id belongs to a contact of another tenant: contacts do not move; nothing written. */
  | 'other-tenant';

export interface ContactRow {
  id: string;
  tenant_id: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  whatsapp: string | null;
  timezone: string | null;
  tags: string[];
  attributes: Record<string, unknown>;
  consent: Record<string, boolean>;
  created_at: Date;
  updated_at: Date;
}

/** The columns a changed contact differs in; the same list on both sides of IS DISTINCT FROM. */
const COMPARED = ['tenant_id', 'name', 'email', 'phone', 'whatsapp', 'timezone', 'tags', 'attributes', 'consent'];

/**
 * Upserts contacts in ONE statement, whatever their number (an import sends 1,000 at a time), and
 * says per id what happened. Ids must be distinct within one call: PostgreSQL refuses to update
 * the same row twice in one statement, so callers split at a repeated id.
 */
export async function upsertContacts(db: Queryable, contacts: readonly ContactInput[]): Promise<Map<string, UpsertOutcome>> {
  const outcomes = new Map<string, UpsertOutcome>();
  if (contacts.length === 0) return outcomes;
  // In id order: two imports touching the same contacts then lock their rows in the same order
  // and wait for each other instead of deadlocking.
  const sorted = [...contacts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rows = sorted.map((c) => ({
    id: c.id,
    tenant_id: c.tenantId,
    name: c.name,
    email: c.email,
    phone: c.phone,
    whatsapp: c.whatsapp,
    timezone: c.timezone,
    tags: c.tags,
    attributes: c.attributes,
    consent: c.consent,
  }));
  const result = await db.query<{ id: string; outcome: UpsertOutcome }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
         id text, tenant_id text, name text, email text, phone text, whatsapp text, timezone text,
         tags text[], attributes jsonb, consent jsonb)
     ), refused AS (
       SELECT i.id, CASE WHEN t.id IS NULL THEN 'unknown-tenant' ELSE 'other-tenant' END AS outcome
         FROM input i
         LEFT JOIN tenants t ON t.id = i.tenant_id
         LEFT JOIN contacts c ON c.id = i.id
        WHERE t.id IS NULL OR c.tenant_id <> i.tenant_id
     ), written AS (
       INSERT INTO contacts AS c (id, ${COMPARED.join(', ')})
       SELECT id, ${COMPARED.join(', ')} FROM input WHERE id NOT IN (SELECT id FROM refused)
       ON CONFLICT (id) DO UPDATE
          SET ${COMPARED.filter((k) => k !== 'tenant_id')
            .map((k) => `${k} = EXCLUDED.${k}`)
            .join(', ')}, updated_at = now()
        -- The tenant check repeats here: a row another request inserted meanwhile is not moved.
        WHERE c.tenant_id = EXCLUDED.tenant_id
          AND (${COMPARED.map((k) => `c.${k}`).join(', ')}) IS DISTINCT FROM (${COMPARED.map((k) => `EXCLUDED.${k}`).join(', ')})
       RETURNING c.id, CASE WHEN xmax = 0 THEN 'created' ELSE 'updated' END AS outcome
     )
     SELECT id, outcome FROM refused UNION ALL SELECT id, outcome FROM written`,
    [JSON.stringify(rows)],
  );
  for (const row of result.rows) outcomes.set(row.id, row.outcome);
  // Not refused and not written: the stored row already held exactly this.
  for (const c of contacts) if (!outcomes.has(c.id)) outcomes.set(c.id, 'unchanged');
  return outcomes;
}

export async function getContact(db: Queryable, id: string): Promise<ContactRow | undefined> {
  const result = await db.query<ContactRow>('SELECT * FROM contacts WHERE id = $1', [id]);
  return result.rows[0];
}

/**
 * Deletes a contact and, in the same transaction, cancels every message of it in the outbox
 * that is not yet in a provider's hands (scheduled_messages.contact_id, within its tenant), with
 * the delivery engine's own cancel: a recurring series stops too, also one whose current
 * occurrence is being sent now. Its leads, appointments, invoices, enrolments and list
 * memberships go with it (ON DELETE CASCADE); their reminders are among the cancelled messages.
 * Returns undefined for an unknown id.
 */
export function deleteContact(db: Database, id: string): Promise<{ messagesCancelled: number; callsCancelled: number } | undefined> {
  return db.transaction(async (tx) => {
    const deleted = await tx.query<{ tenant_id: string }>('DELETE FROM contacts WHERE id = $1 RETURNING tenant_id', [id]);
    const tenantId = deleted.rows[0]?.tenant_id;
    if (tenantId === undefined) return undefined;
    const open = await tx.query<{ idempotency_key: string }>(
      `SELECT idempotency_key FROM scheduled_messages
        WHERE tenant_id = $1 AND contact_id = $2 AND status IN ('scheduled', 'claimed', 'sending', 'unknown')`,
      [tenantId, id],
    );
    const keys = open.rows.map((r) => r.idempotency_key);
    const messagesCancelled = await cancelMessages(tx, keys, tenantId);
    return { messagesCancelled, callsCancelled: await cancelQueuedCallsOfContact(tx, tenantId, id) };
  });
}

/**
 * The tenant's contacts reached at a phone number on a channel (an inbound SMS or WhatsApp's
 * sender): SMS by `phone`, WhatsApp by `whatsapp` or, when that is unset, `phone` (as the outbound
 * side picks the address), a stored whatsapp: prefix ignored. At most `limit`, oldest first.
 */
export async function contactIdsByNumber(db: Queryable, tenantId: string, channel: 'sms' | 'whatsapp', number: string, limit = 20): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `SELECT id FROM contacts
      WHERE tenant_id = $1
        AND CASE WHEN $2 = 'whatsapp' THEN regexp_replace(coalesce(whatsapp, phone), '^whatsapp:', '') ELSE phone END = $3
      ORDER BY created_at, id LIMIT $4`,
    [tenantId, channel, number, limit],
  );
  return result.rows.map((r) => r.id);
}
