import type { Queryable } from '../../src/db/database';

/** A tenant with follow-ups on, in the given zone. */
export async function addTenant(db: Queryable, id: string, options: { timezone?: string; followupEnabled?: boolean } = {}): Promise<void> {
  await db.query(`INSERT INTO tenants (id, name, status, timezone, followup_enabled) VALUES ($1, $1, 'active', $2, $3)`, [
    id,
    options.timezone ?? 'UTC',
    options.followupEnabled ?? true,
  ]);
}

/**
 * `count` contacts c<tenant>-0000001.. with e-mail addresses, generated in SQL (no rows through
 * Node), every `noAddressEvery`-th without an address, all members of list `listId` and tagged.
 */
export async function addContacts(
  db: Queryable,
  tenantId: string,
  count: number,
  options: { listId?: string; tags?: string[]; noAddressEvery?: number; prefix?: string } = {},
): Promise<void> {
  const prefix = options.prefix ?? `${tenantId}-c`;
  await db.query(
    `INSERT INTO contacts (id, tenant_id, name, email, phone, tags)
     SELECT $2 || lpad(g::text, 7, '0'), $1, 'Contact ' || g,
            CASE WHEN $4::int > 0 AND g % $4::int = 0 THEN NULL ELSE 'user' || g || '@' || $1 || '.test' END,
            '+1555' || lpad(g::text, 7, '0'), $5::text[]
       FROM generate_series(1, $3::int) AS g`,
    [tenantId, prefix, count, options.noAddressEvery ?? 0, options.tags ?? []],
  );
  if (options.listId) {
    await db.query(`INSERT INTO contact_lists (id, tenant_id, name) VALUES ($1, $2, $1) ON CONFLICT DO NOTHING`, [options.listId, tenantId]);
    await db.query(`INSERT INTO contact_list_members (list_id, contact_id) SELECT $1, id FROM contacts WHERE tenant_id = $2 AND id LIKE $3 || '%'`, [
      options.listId,
      tenantId,
      prefix,
    ]);
  }
}

export function contactId(tenantId: string, n: number, prefix = `${tenantId}-c`): string {
  return `${prefix}${String(n).padStart(7, '0')}`;
}

export async function addCampaign(
  db: Queryable,
  id: string,
  tenantId: string,
  audience: { listId: string } | { segmentId: string },
  options: { sendAt?: Date; channel?: 'email' | 'whatsapp' } = {},
): Promise<void> {
  await db.query(
    `INSERT INTO campaigns (id, tenant_id, name, channel, subject, template, send_at, list_id, segment_id)
     VALUES ($1, $2, 'Campaign ' || $1, $3, 'News for {{ contact.name }}', 'Hello {{ contact.name }}', $4, $5, $6)`,
    [
      id,
      tenantId,
      options.channel ?? 'email',
      options.sendAt ?? new Date(Date.now() - 1_000),
      'listId' in audience ? audience.listId : null,
      'segmentId' in audience ? audience.segmentId : null,
    ],
  );
}

/** Outbox rows per idempotency key of a campaign (more than one would be a duplicate). */
export async function campaignOutbox(db: Queryable, campaignId: string): Promise<{ rows: number; distinctContacts: number }> {
  const result = await db.query<{ rows: number; contacts: number }>(
    `SELECT count(*)::int AS rows, count(DISTINCT contact_id)::int AS contacts
       FROM scheduled_messages WHERE idempotency_key LIKE $1`,
    [`campaign:${campaignId}:%`],
  );
  return { rows: result.rows[0]!.rows, distinctContacts: result.rows[0]!.contacts };
}
