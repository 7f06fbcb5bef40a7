import type { Queryable } from '../db/database';
import { ValidationError } from './validation-error';

/**
 * The one owner of the delivery policy tables (migration 0040): quiet hours and frequency caps
 * per tenant. The dispatcher's claim only reads them (outbox/claim.ts, outbox/frequency-cap.ts);
 * a change applies from the next claim on, in every worker process. An unknown tenant is a
 * ValidationError naming tenantId, not a foreign-key failure.
 */

export const QUIET_HOURS_CHANNELS = ['*', 'email', 'sms', 'whatsapp', 'webhook', 'log'] as const;
export type QuietHoursChannel = (typeof QUIET_HOURS_CHANNELS)[number];
export const QUIET_HOURS_MODES = ['hold', 'skip', 'off'] as const;
export const CAPPED_CLASSES = ['*', 'followup', 'marketing'] as const;
export type CappedClass = (typeof CAPPED_CLASSES)[number];
export const CAP_MODES = ['defer', 'skip'] as const;

/** A quiet-hours window is named by its tenant, channel ('*' for all) and what it applies to. */
export interface QuietHoursKey {
  tenantId: string;
  channel: QuietHoursChannel;
  /** '*' (every message), 'type:<message type>' or 'campaign:<campaign id>'. */
  appliesTo: string;
}

export interface QuietHoursView extends QuietHoursKey {
  /** Wall-clock HH:MM (or HH:MM:SS) in the contact's zone, the tenant's when it has none. */
  starts: string;
  ends: string;
  mode: (typeof QUIET_HOURS_MODES)[number];
  updatedAt: string;
}

export interface FrequencyCapView {
  tenantId: string;
  /** The class capped; '*' counts every class but transactional. */
  class: CappedClass;
  maxMessages: number;
  periodSeconds: number;
  mode: (typeof CAP_MODES)[number];
  updatedAt: string;
}

type QuietRow = {
  tenant_id: string;
  channel: QuietHoursChannel;
  applies_to: string;
  starts_at: string;
  ends_at: string;
  mode: QuietHoursView['mode'];
  updated_at: Date;
};
type CapRow = { tenant_id: string; class: CappedClass; max_messages: number; period_seconds: number; mode: FrequencyCapView['mode']; updated_at: Date };
const QUIET_COLUMNS = 'tenant_id, channel, applies_to, starts_at::text AS starts_at, ends_at::text AS ends_at, mode, updated_at';
const CAP_COLUMNS = 'tenant_id, class, max_messages, period_seconds, mode, updated_at';

/** Sets one quiet-hours window (replacing the one under the same key); created tells which. */
export async function putQuietHours(
  db: Queryable,
  input: QuietHoursKey & Pick<QuietHoursView, 'starts' | 'ends' | 'mode'>,
): Promise<{ quietHours: QuietHoursView; created: boolean }> {
  const result = await unknownTenantIsInvalid(() =>
    db.query<QuietRow & { created: boolean }>(
      // xmax = 0 only on a freshly inserted row.
      `INSERT INTO tenant_quiet_hours (tenant_id, channel, applies_to, starts_at, ends_at, mode) VALUES ($1, $2, $3, $4::time, $5::time, $6)
       ON CONFLICT (tenant_id, channel, applies_to) DO UPDATE
         SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, mode = EXCLUDED.mode, updated_at = now()
       RETURNING ${QUIET_COLUMNS}, (xmax = 0) AS created`,
      [input.tenantId, input.channel, input.appliesTo, input.starts, input.ends, input.mode],
    ),
  );
  const row = result.rows[0]!;
  return { quietHours: quietView(row), created: row.created };
}

/** Removes one window; false when there was none. */
export async function removeQuietHours(db: Queryable, key: QuietHoursKey): Promise<boolean> {
  const result = await db.query('DELETE FROM tenant_quiet_hours WHERE tenant_id = $1 AND channel = $2 AND applies_to = $3', [
    key.tenantId,
    key.channel,
    key.appliesTo,
  ]);
  return result.rowCount > 0;
}

/**
 * A tenant's windows in (channel, appliesTo) order after `after` (the last of the page before):
 * keyset order on the primary key. Reads `limit + 1` rows; the extra one only says more follow.
 */
export async function listQuietHours(
  db: Queryable,
  tenantId: string,
  options: { limit: number; after?: readonly [string, string] },
): Promise<QuietHoursView[]> {
  const result = await db.query<QuietRow>(
    `SELECT ${QUIET_COLUMNS} FROM tenant_quiet_hours
      WHERE tenant_id = $1 AND ($2::text IS NULL OR (channel, applies_to) > ($2::text, $3::text))
      ORDER BY channel, applies_to LIMIT $4`,
    [tenantId, options.after?.[0] ?? null, options.after?.[1] ?? null, options.limit + 1],
  );
  return result.rows.map(quietView);
}

/** Sets the cap of one class (replacing it); created tells which. */
export async function putFrequencyCap(
  db: Queryable,
  input: Pick<FrequencyCapView, 'tenantId' | 'class' | 'maxMessages' | 'periodSeconds' | 'mode'>,
): Promise<{ cap: FrequencyCapView; created: boolean }> {
  const result = await unknownTenantIsInvalid(() =>
    db.query<CapRow & { created: boolean }>(
      `INSERT INTO tenant_frequency_caps (tenant_id, class, max_messages, period_seconds, mode) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant_id, class) DO UPDATE
         SET max_messages = EXCLUDED.max_messages, period_seconds = EXCLUDED.period_seconds, mode = EXCLUDED.mode, updated_at = now()
       RETURNING ${CAP_COLUMNS}, (xmax = 0) AS created`,
      [input.tenantId, input.class, input.maxMessages, input.periodSeconds, input.mode],
    ),
  );
  const row = result.rows[0]!;
  return { cap: capView(row), created: row.created };
}

/** Removes the cap of one class; false when there was none. */
export async function removeFrequencyCap(db: Queryable, key: { tenantId: string; class: CappedClass }): Promise<boolean> {
  const result = await db.query('DELETE FROM tenant_frequency_caps WHERE tenant_id = $1 AND class = $2', [key.tenantId, key.class]);
  return result.rowCount > 0;
}

/** A tenant's caps, by class (at most one per class: three). */
export async function listFrequencyCaps(db: Queryable, tenantId: string): Promise<FrequencyCapView[]> {
  const result = await db.query<CapRow>(`SELECT ${CAP_COLUMNS} FROM tenant_frequency_caps WHERE tenant_id = $1 ORDER BY class`, [tenantId]);
  return result.rows.map(capView);
}

async function unknownTenantIsInvalid<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if ((err as { code?: string }).code === '23503') {
      throw new ValidationError([{ field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' }]);
    }
    throw err;
  }
}

/** time's text is HH:MM:SS; a window on whole minutes reads back as HH:MM, as it was given. */
const clockText = (time: string): string => time.replace(/^(\d\d:\d\d):00$/, '$1');

function quietView(row: QuietRow): QuietHoursView {
  return {
    tenantId: row.tenant_id,
    channel: row.channel,
    appliesTo: row.applies_to,
    starts: clockText(row.starts_at),
    ends: clockText(row.ends_at),
    mode: row.mode,
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

function capView(row: CapRow): FrequencyCapView {
  return {
    tenantId: row.tenant_id,
    class: row.class,
    maxMessages: Number(row.max_messages),
    periodSeconds: Number(row.period_seconds),
    mode: row.mode,
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
