import type { Queryable } from '../db/database';
import { NotFoundError } from '../errors/caller-error';

/** The answer to an inbound HELP of a tenant that has set none (a carrier requirement for SMS). */
export const DEFAULT_HELP_TEXT = 'Reply STOP to opt out, START to opt back in.';

/** A tenant's messaging settings as /api/v1 shows them; a tenant without a row has the defaults. */
export interface MessagingSettings {
  tenantId: string;
  /** SMS and WhatsApp go only to contacts whose consent records true for the channel. */
  requireRecordedConsent: boolean;
  /** The tenant's answer to HELP; null = DEFAULT_HELP_TEXT. */
  helpText: string | null;
}

/**
 * The one owner of messaging_settings (migration 0045). The dispatcher's claim reads
 * require_recorded_consent in its own statement; the inbound webhook reads the help text here.
 */
export async function readMessagingSettings(db: Queryable, tenantId: string): Promise<MessagingSettings> {
  const result = await db.query<{ require_recorded_consent: boolean; help_text: string | null }>(
    'SELECT require_recorded_consent, help_text FROM messaging_settings WHERE tenant_id = $1',
    [tenantId],
  );
  const row = result.rows[0];
  return { tenantId, requireRecordedConsent: row?.require_recorded_consent ?? false, helpText: row?.help_text ?? null };
}

/** Replaces a tenant's settings whole (a field left out takes its default). Unknown tenant: NotFoundError. */
export async function replaceMessagingSettings(db: Queryable, settings: MessagingSettings): Promise<MessagingSettings> {
  try {
    await db.query(
      `INSERT INTO messaging_settings (tenant_id, require_recorded_consent, help_text) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id) DO UPDATE
         SET require_recorded_consent = EXCLUDED.require_recorded_consent, help_text = EXCLUDED.help_text, updated_at = now()`,
      [settings.tenantId, settings.requireRecordedConsent, settings.helpText],
    );
  } catch (err) {
    if ((err as { code?: string }).code === '23503') throw new NotFoundError(`tenant "${settings.tenantId}" not found`);
    throw err;
  }
  return readMessagingSettings(db, settings.tenantId);
}

/** Whether the tenant exists (a GET of an unknown tenant's settings is a 404, not the defaults). */
export async function tenantKnown(db: Queryable, tenantId: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM tenants WHERE id = $1', [tenantId])).rows.length > 0;
}
