import type { Queryable } from '../../db/database';
import { cancelMessages } from '../../delivery/outbox';
import { ConflictError, NotFoundError } from '../errors';
import { campaignMessageKey } from './campaign-batch';

/** 'failed': finished with none of its messages delivered and at least one failed (e.g. a template that cannot render). */
export type CampaignStatus = 'scheduled' | 'sending' | 'sent' | 'failed' | 'paused' | 'cancelled';

export interface CampaignRow {
  id: string;
  tenant_id: string;
  name: string;
  channel: 'email' | 'whatsapp';
  subject: string | null;
  template: string;
  send_at: Date;
  list_id: string | null;
  segment_id: string | null;
  status: CampaignStatus;
  cursor_contact_id: string | null;
  expanded_at: Date | null;
  targeted: number;
  queued: number;
  sent: number;
  failed: number;
  skipped: number;
  cancelled: number;
  started_at: Date | null;
  completed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface NewCampaign {
  tenantId: string;
  name: string;
  channel: 'email' | 'whatsapp';
  subject?: string | undefined;
  template: string;
  sendAt: Date;
  listId?: string | undefined;
  segmentId?: string | undefined;
}

export async function insertCampaign(db: Queryable, c: NewCampaign): Promise<CampaignRow> {
  const result = await db.query<CampaignRow>(
    `INSERT INTO campaigns (tenant_id, name, channel, subject, template, send_at, list_id, segment_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [c.tenantId, c.name, c.channel, c.subject ?? null, c.template, c.sendAt, c.listId ?? null, c.segmentId ?? null],
  );
  return result.rows[0]!;
}

export async function getCampaign(db: Queryable, id: string): Promise<CampaignRow | undefined> {
  return (await db.query<CampaignRow>('SELECT * FROM campaigns WHERE id = $1', [id])).rows[0];
}

/**
 * Moves every due 'scheduled' campaign to 'sending' and records the audience size at that
 * moment as `targeted` (the final figure is set when expansion finishes: queued + skipped).
 */
export async function startDueCampaigns(db: Queryable): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `UPDATE campaigns c
        SET status = 'sending', started_at = now(), updated_at = now(),
            targeted = CASE WHEN c.list_id IS NOT NULL
                         THEN (SELECT count(*) FROM contact_list_members m JOIN contacts k ON k.id = m.contact_id
                                WHERE m.list_id = c.list_id AND k.tenant_id = c.tenant_id)
                         ELSE (SELECT count(*) FROM contacts k JOIN segments s ON s.id = c.segment_id
                                WHERE k.tenant_id = c.tenant_id AND k.tags @> s.tags) END
      WHERE c.status = 'scheduled' AND c.send_at <= now()
        -- A suspended or cancelled tenant's campaigns wait (they start if it is reactivated).
        AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = c.tenant_id AND t.status IN ('trial', 'active'))
      RETURNING c.id`,
  );
  return result.rows.map((r) => r.id);
}

/** Campaigns with audience left to expand, oldest send time first; a tenant suspended mid-campaign pauses it. */
export async function expandingCampaigns(db: Queryable): Promise<Array<{ id: string; audience: 'list' | 'segment' }>> {
  const result = await db.query<{ id: string; list_id: string | null }>(
    `SELECT c.id, c.list_id FROM campaigns c JOIN tenants t ON t.id = c.tenant_id AND t.status IN ('trial', 'active')
      WHERE c.status = 'sending' AND c.expanded_at IS NULL ORDER BY c.send_at, c.id`,
  );
  return result.rows.map((r) => ({ id: r.id, audience: r.list_id ? 'list' : 'segment' }));
}

/**
 * Refreshes sent/failed/cancelled/skipped from the outbox for campaigns whose messages may
 * still be moving, and marks a 'sending' campaign 'sent' (or 'failed' when none of its messages
 * could be delivered; a cancelled one completed) once none of its messages is still on its way. One aggregate row per campaign reaches Node.
 */
export async function refreshDeliveryCounts(db: Queryable): Promise<number> {
  const campaigns = await db.query<{ id: string }>(
    `SELECT id FROM campaigns
      WHERE (status = 'sending' AND expanded_at IS NOT NULL) OR status = 'paused'
         OR (status = 'cancelled' AND completed_at IS NULL)
      ORDER BY send_at`,
  );
  let finished = 0;
  for (const { id } of campaigns.rows) {
    const status = (await refreshCampaignCounts(db, id))?.status;
    if (status === 'sent' || status === 'failed') finished++;
  }
  return finished;
}

export async function refreshCampaignCounts(db: Queryable, id: string): Promise<CampaignRow | undefined> {
  const updated = await db.query<CampaignRow>(
    `WITH tally AS (
       SELECT count(*) FILTER (WHERE r.status = 'skipped')::int AS recipients_skipped,
              count(*) FILTER (WHERE m.status = 'sent')::int AS sent,
              count(*) FILTER (WHERE m.status IN ('failed', 'dead'))::int AS failed,
              count(*) FILTER (WHERE m.status = 'skipped')::int AS delivery_skipped,
              count(*) FILTER (WHERE m.status = 'cancelled')::int AS cancelled,
              count(*) FILTER (WHERE r.status = 'queued'
                                 AND (m.status IS NULL OR m.status IN ('scheduled', 'claimed', 'sending', 'unknown')))::int AS pending
         FROM campaign_recipients r
         LEFT JOIN scheduled_messages m
                ON r.status = 'queued' AND m.idempotency_key = 'campaign:' || r.campaign_id || ':' || r.contact_id
        WHERE r.campaign_id = $1
     )
     UPDATE campaigns c
        SET sent = tally.sent, failed = tally.failed, cancelled = tally.cancelled,
            skipped = tally.recipients_skipped + tally.delivery_skipped,
            -- A campaign that delivered nothing and had messages fail (a template that cannot
            -- render for its recipients fails every one at send time) did not go out: 'failed'.
            status = CASE WHEN c.status = 'sending' AND c.expanded_at IS NOT NULL AND tally.pending = 0
                          THEN CASE WHEN tally.sent = 0 AND tally.failed > 0 THEN 'failed' ELSE 'sent' END
                          ELSE c.status END,
            completed_at = CASE WHEN tally.pending = 0 AND (c.status = 'cancelled' OR (c.status = 'sending' AND c.expanded_at IS NOT NULL))
                                THEN now() ELSE c.completed_at END,
            updated_at = now()
       FROM tally
      WHERE c.id = $1
     RETURNING c.*`,
    [id],
  );
  return updated.rows[0];
}

/** Pauses expansion at the next batch boundary (the batch statement locks the campaign row). */
export async function pauseCampaign(db: Queryable, id: string): Promise<CampaignRow> {
  return transition(db, id, ['scheduled', 'sending'], `status = 'paused'`);
}

/** A paused campaign goes back to 'sending' if it had started, else to 'scheduled'. */
export async function resumeCampaign(db: Queryable, id: string): Promise<CampaignRow> {
  return transition(db, id, ['paused'], `status = CASE WHEN started_at IS NULL THEN 'scheduled' ELSE 'sending' END`);
}

const CANCEL_CHUNK = 5_000;

/**
 * Cancels the campaign and every one of its outbox messages not yet picked up by the delivery
 * engine (messages already sending or sent are not recalled).
 */
export async function cancelCampaign(db: Queryable, id: string): Promise<CampaignRow> {
  await transition(db, id, ['scheduled', 'sending', 'paused'], `status = 'cancelled'`);
  await cancelOutstandingMessages(db, id);
  return (await refreshCampaignCounts(db, id))!;
}

/**
 * Cancels a campaign's still-scheduled outbox messages, walking its recipients in keyset chunks
 * so a 1,000,000-recipient campaign holds one chunk of keys at a time. Idempotent: the
 * campaign-scheduler repeats it for cancelled campaigns not yet completed, so a cancel cut short
 * by a crash is finished by the next tick.
 */
export async function cancelOutstandingMessages(db: Queryable, id: string): Promise<number> {
  let after = '';
  let cancelled = 0;
  for (;;) {
    const chunk = await db.query<{ contact_id: string }>(
      `SELECT contact_id FROM campaign_recipients
        WHERE campaign_id = $1 AND status = 'queued' AND contact_id > $2
        ORDER BY contact_id LIMIT $3`,
      [id, after, CANCEL_CHUNK],
    );
    if (chunk.rows.length === 0) break;
    cancelled += await cancelMessages(
      db,
      chunk.rows.map((r) => campaignMessageKey(id, r.contact_id)),
    );
    after = chunk.rows[chunk.rows.length - 1]!.contact_id;
    if (chunk.rows.length < CANCEL_CHUNK) break;
  }
  return cancelled;
}

/** Cancelled campaigns whose messages may still be moving (completed_at is set once none is). */
export async function cancelledIncomplete(db: Queryable): Promise<string[]> {
  const result = await db.query<{ id: string }>(`SELECT id FROM campaigns WHERE status = 'cancelled' AND completed_at IS NULL ORDER BY id`);
  return result.rows.map((r) => r.id);
}

async function transition(db: Queryable, id: string, from: CampaignStatus[], set: string): Promise<CampaignRow> {
  const result = await db.query<CampaignRow>(`UPDATE campaigns SET ${set}, updated_at = now() WHERE id = $1 AND status = ANY($2::text[]) RETURNING *`, [
    id,
    from,
  ]);
  const row = result.rows[0];
  if (row) return row;
  const current = await getCampaign(db, id);
  if (!current) throw new NotFoundError(`campaign ${id} not found`);
  throw new ConflictError(`campaign ${id} is ${current.status}; this needs one of: ${from.join(', ')}`);
}

/** One page of a tenant's campaigns in id order, `limit` rows after `afterId` (the caller reads one more than it shows). */
export async function listCampaigns(
  db: Queryable,
  page: { tenantId: string; status?: CampaignStatus | undefined; afterId?: string | undefined; limit: number },
): Promise<CampaignRow[]> {
  const result = await db.query<CampaignRow>(
    `SELECT * FROM campaigns
      WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR id > $3)
      ORDER BY id LIMIT $4`,
    [page.tenantId, page.status ?? null, page.afterId ?? null, page.limit],
  );
  return result.rows;
}

/**
 * Campaigns across every tenant for the operator dashboard: those still moving (sending, paused,
 * scheduled) first, then the latest finished ones, `limit` in all.
 */
export async function campaignsForOperator(db: Queryable, limit: number): Promise<CampaignRow[]> {
  const result = await db.query<CampaignRow>(
    `SELECT * FROM campaigns
      ORDER BY CASE status WHEN 'sending' THEN 0 WHEN 'paused' THEN 1 WHEN 'scheduled' THEN 2 ELSE 3 END, updated_at DESC, id
      LIMIT $1`,
    [limit],
  );
  return result.rows;
}
