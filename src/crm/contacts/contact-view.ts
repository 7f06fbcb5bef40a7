import type { ContactRow } from './contact-store';

/** A contact as the /api/v1 answers show it: camelCase, times as ISO 8601 with offset (UTC, Z). */
export interface ContactView {
  id: string;
  tenantId: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  whatsapp: string | null;
  timezone: string | null;
  tags: string[];
  attributes: Record<string, unknown>;
  consent: Record<string, boolean>;
  createdAt: string;
  updatedAt: string;
}

export function contactView(row: ContactRow): ContactView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    email: row.email,
    phone: row.phone,
    whatsapp: row.whatsapp,
    timezone: row.timezone,
    tags: row.tags,
    attributes: row.attributes,
    consent: row.consent,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
