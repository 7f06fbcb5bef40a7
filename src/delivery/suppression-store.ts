import type { Queryable } from '../db/database';
import { ValidationError } from './validation-error';

/** The channels a suppression can name; '*' opts the recipient out of every channel. */
export const SUPPRESSION_CHANNELS = ['*', 'email', 'sms', 'whatsapp', 'webhook', 'log'] as const;
export type SuppressionChannel = (typeof SUPPRESSION_CHANNELS)[number];

/**
 * The doors an opt-out comes through; every one lands in this one table and is lifted the same
 * way (removeSuppression). The column keeps the door of the latest opt-out of the key.
 */
export const SUPPRESSION_SOURCES = ['api', 'inbound-stop', 'unsubscribe'] as const;
export type SuppressionSource = (typeof SUPPRESSION_SOURCES)[number];

/** One opt-out as the API shows it. */
export interface SuppressionView {
  tenantId: string;
  channel: SuppressionChannel;
  recipient: string;
  reason: string | null;
  source: SuppressionSource;
  createdAt: string;
  /** When the latest opt-out of this key was set (createdAt for one set once). */
  updatedAt: string;
}

/** A suppression is named by its tenant, channel and recipient (the table's primary key). */
export interface SuppressionKey {
  tenantId: string;
  channel: SuppressionChannel;
  recipient: string;
}

type Row = {
  tenant_id: string;
  channel: SuppressionChannel;
  recipient: string;
  reason: string | null;
  source: SuppressionSource;
  created_at: Date;
  updated_at: Date;
};
const COLUMNS = 'tenant_id, channel, recipient, reason, source, created_at, updated_at';

/**
 * The one owner of the suppressions table's writes (the dispatcher's claim and the campaign batch
 * only read it), for every door: the API, an inbound STOP, a one-click unsubscribe (`source`,
 * 'api' when not given). An unknown tenant is a ValidationError naming tenantId, not a
 * foreign-key failure.
 */
export async function putSuppression(
  db: Queryable,
  input: SuppressionKey & { reason?: string | null; source?: SuppressionSource },
): Promise<{ suppression: SuppressionView; created: boolean }> {
  try {
    // xmax = 0 only on a freshly inserted row: tells a new opt-out from an updated reason.
    const result = await db.query<Row & { created: boolean }>(
      `INSERT INTO suppressions (tenant_id, channel, recipient, reason, source) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant_id, channel, recipient) DO UPDATE
         SET reason = EXCLUDED.reason, source = EXCLUDED.source, updated_at = now()
       RETURNING ${COLUMNS}, (xmax = 0) AS created`,
      [input.tenantId, input.channel, input.recipient, input.reason ?? null, input.source ?? 'api'],
    );
    const row = result.rows[0]!;
    return { suppression: toView(row), created: row.created };
  } catch (err) {
    if ((err as { code?: string }).code === '23503') {
      throw new ValidationError([{ field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' }]);
    }
    throw err;
  }
}

/** Lifts one opt-out, whichever door set it; false when there was none. */
export async function removeSuppression(db: Queryable, key: SuppressionKey): Promise<boolean> {
  const result = await db.query('DELETE FROM suppressions WHERE tenant_id = $1 AND channel = $2 AND recipient = $3', [
    key.tenantId,
    key.channel,
    key.recipient,
  ]);
  return result.rowCount > 0;
}

/**
 * A tenant's opt-outs in (channel, recipient) order after `after` (the last row of the page
 * before): keyset order on the primary key, so a page costs the same anywhere in the list.
 * Reads `limit + 1` rows; the extra one only says that more follow.
 */
export async function listSuppressions(
  db: Queryable,
  tenantId: string,
  options: { limit: number; after?: readonly [string, string]; channel?: SuppressionChannel; recipient?: string },
): Promise<Array<SuppressionView>> {
  const result = await db.query<Row>(
    `SELECT ${COLUMNS} FROM suppressions
      WHERE tenant_id = $1 AND ($2::text IS NULL OR (channel, recipient) > ($2::text, $3::text))
        AND ($4::text IS NULL OR channel = $4) AND ($5::text IS NULL OR recipient = $5)
      ORDER BY channel, recipient LIMIT $6`,
    [tenantId, options.after?.[0] ?? null, options.after?.[1] ?? null, options.channel ?? null, options.recipient ?? null, options.limit + 1],
  );
  return result.rows.map(toView);
}

function toView(row: Row): SuppressionView {
  return {
    tenantId: row.tenant_id,
    channel: row.channel,
    recipient: row.recipient,
    reason: row.reason,
    source: row.source,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
