import type { AppointmentRow } from './appointment-reminders';

/** An appointment as the /api/v1 answers show it: camelCase, times as ISO 8601 with offset (UTC, Z). */
export function appointmentView(row: AppointmentRow) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    contactId: row.contact_id,
    startsAt: new Date(row.starts_at).toISOString(),
    title: row.title,
    channel: row.channel,
    status: row.status,
    version: row.version,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
