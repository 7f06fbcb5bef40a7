import type { Database, Queryable } from '../../db/database';
import { cancelMessages, scheduleMessages, type ChannelName, type ScheduleRequest } from '../../delivery/outbox';
import { ConflictError, NotFoundError } from '../errors';

/** The reminders of 001: 24 hours and 3 hours before the appointment. */
export const APPOINTMENT_REMINDERS = [
  { kind: '24h', beforeMs: 24 * 3_600_000 },
  { kind: '3h', beforeMs: 3 * 3_600_000 },
] as const;

export interface AppointmentRow {
  id: string;
  tenant_id: string;
  contact_id: string;
  title: string;
  starts_at: Date;
  channel: 'email' | 'sms' | 'whatsapp';
  status: 'scheduled' | 'cancelled' | 'completed' | 'no-show';
  version: number;
  created_at: Date;
  updated_at: Date;
}

/**
 * Version 0 keeps the plain key of the contract (appt:<id>:24h); a moved appointment's
 * reminders are new messages (their text carries the new time), keyed by version.
 */
export function appointmentReminderKey(id: string, version: number, kind: string): string {
  return version === 0 ? `appt:${id}:${kind}` : `appt:${id}:v${version}:${kind}`;
}

export interface NewAppointment {
  tenantId: string;
  contactId: string;
  startsAt: Date;
  title?: string | undefined;
  channel?: 'email' | 'sms' | 'whatsapp' | undefined;
}

/** Creates an appointment and, in the same transaction, its reminders at their exact times. */
export function createAppointment(db: Database, input: NewAppointment): Promise<AppointmentRow> {
  return db.transaction(async (tx) => {
    const contact = await tx.query('SELECT 1 FROM contacts WHERE id = $1 AND tenant_id = $2', [input.contactId, input.tenantId]);
    if (contact.rows.length === 0) throw new NotFoundError(`contactId: contact ${input.contactId} not found for tenant ${input.tenantId}`);
    const row = (
      await tx.query<AppointmentRow>(
        `INSERT INTO appointments (tenant_id, contact_id, starts_at, title, channel)
         VALUES ($1, $2, $3, coalesce($4, 'Appointment'), coalesce($5, 'email')) RETURNING *`,
        [input.tenantId, input.contactId, input.startsAt, input.title ?? null, input.channel ?? null],
      )
    ).rows[0]!;
    await scheduleReminders(tx, row);
    return row;
  });
}

/**
 * Moves an appointment: the reminders still waiting are cancelled and new ones scheduled for
 * the new time, atomically. A reminder whose new time has already passed is not sent (a "see
 * you tomorrow" three hours before is wrong); one already sent stays sent.
 */
export function moveAppointment(db: Database, id: string, startsAt: Date): Promise<AppointmentRow> {
  return db.transaction(async (tx) => {
    const current = await lockAppointment(tx, id);
    if (current.status !== 'scheduled') throw new ConflictError(`appointment ${id} is ${current.status}`);
    await cancelMessages(tx, reminderKeys(current));
    const moved = (
      await tx.query<AppointmentRow>(`UPDATE appointments SET starts_at = $2, version = version + 1, updated_at = now() WHERE id = $1 RETURNING *`, [
        id,
        startsAt,
      ])
    ).rows[0]!;
    await scheduleReminders(tx, moved);
    return moved;
  });
}

/** Cancels an appointment and removes its reminders not yet sent. */
export function cancelAppointment(db: Database, id: string): Promise<{ appointment: AppointmentRow; remindersCancelled: number }> {
  return db.transaction(async (tx) => {
    const current = await lockAppointment(tx, id);
    if (current.status === 'cancelled') return { appointment: current, remindersCancelled: 0 };
    const remindersCancelled = await cancelMessages(tx, reminderKeys(current));
    const appointment = (await tx.query<AppointmentRow>(`UPDATE appointments SET status = 'cancelled', updated_at = now() WHERE id = $1 RETURNING *`, [id]))
      .rows[0]!;
    return { appointment, remindersCancelled };
  });
}

/** Records how an appointment went (kept = completed; feeds the KPI "appointments kept"). */
export async function setAppointmentOutcome(db: Queryable, id: string, status: 'completed' | 'no-show'): Promise<AppointmentRow> {
  const row = await db.query<AppointmentRow>(`UPDATE appointments SET status = $2, updated_at = now() WHERE id = $1 AND status = 'scheduled' RETURNING *`, [
    id,
    status,
  ]);
  if (row.rows[0]) return row.rows[0];
  const exists = await db.query<{ status: string }>('SELECT status FROM appointments WHERE id = $1', [id]);
  if (!exists.rows[0]) throw new NotFoundError(`appointment ${id} not found`);
  throw new ConflictError(`appointment ${id} is ${exists.rows[0].status}`);
}

/** An appointment as the CRM's PUT /api/v1/appointments/:id states it: every field given. */
export interface AppointmentState {
  id: string;
  tenantId: string;
  contactId: string;
  startsAt: Date;
  title: string;
  channel: AppointmentRow['channel'];
  status: AppointmentRow['status'];
}

export type AppointmentPutOutcome =
  | { outcome: 'created' | 'updated' | 'unchanged'; appointment: AppointmentRow }
  | { outcome: 'unknown-tenant' | 'unknown-contact' | 'other-tenant' | 'other-contact' }
  /** A cancelled, completed or no-show appointment does not change any more. */
  | { outcome: 'closed'; status: AppointmentRow['status'] };

/**
 * The CRM's idempotent upsert, in one transaction with the reminders: a new appointment gets its
 * reminders (when scheduled); a changed time, title or channel is a move (the waiting reminders
 * cancelled, new ones under the next version, since their text and channel change); leaving
 * `scheduled` cancels the reminders still waiting. The same state twice changes nothing.
 */
export function putAppointment(db: Database, want: AppointmentState): Promise<AppointmentPutOutcome> {
  return db.transaction(async (tx) => {
    let current = (await tx.query<AppointmentRow>('SELECT * FROM appointments WHERE id = $1 FOR UPDATE', [want.id])).rows[0];
    if (!current) {
      const contact = await tx.query('SELECT 1 FROM contacts WHERE id = $1 AND tenant_id = $2 FOR SHARE', [want.contactId, want.tenantId]);
      if (contact.rows.length === 0) {
        const tenant = await tx.query('SELECT 1 FROM tenants WHERE id = $1', [want.tenantId]);
        return { outcome: tenant.rows.length === 0 ? 'unknown-tenant' : 'unknown-contact' };
      }
      const inserted = (
        await tx.query<AppointmentRow>(
          `INSERT INTO appointments (id, tenant_id, contact_id, starts_at, title, channel, status) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (id) DO NOTHING RETURNING *`,
          [want.id, want.tenantId, want.contactId, want.startsAt, want.title, want.channel, want.status],
        )
      ).rows[0];
      if (inserted) {
        if (inserted.status === 'scheduled') await scheduleReminders(tx, inserted);
        return { outcome: 'created', appointment: inserted };
      }
      // Another request created it meanwhile: compare with what it wrote.
      current = await lockAppointment(tx, want.id);
    }
    if (current.tenant_id !== want.tenantId) return { outcome: 'other-tenant' };
    if (current.contact_id !== want.contactId) return { outcome: 'other-contact' };
    const moved = new Date(current.starts_at).getTime() !== want.startsAt.getTime() || current.title !== want.title || current.channel !== want.channel;
    if (!moved && current.status === want.status) return { outcome: 'unchanged', appointment: current };
    if (current.status !== 'scheduled') return { outcome: 'closed', status: current.status };
    await cancelMessages(tx, reminderKeys(current));
    const appointment = (
      await tx.query<AppointmentRow>(
        `UPDATE appointments SET starts_at = $2, title = $3, channel = $4, status = $5, version = version + $6, updated_at = now()
          WHERE id = $1 RETURNING *`,
        [want.id, want.startsAt, want.title, want.channel, want.status, moved ? 1 : 0],
      )
    ).rows[0]!;
    if (appointment.status === 'scheduled') await scheduleReminders(tx, appointment);
    return { outcome: 'updated', appointment };
  });
}

export async function getAppointment(db: Queryable, id: string): Promise<AppointmentRow | undefined> {
  return (await db.query<AppointmentRow>('SELECT * FROM appointments WHERE id = $1', [id])).rows[0];
}

function reminderKeys(a: AppointmentRow): string[] {
  return APPOINTMENT_REMINDERS.map((r) => appointmentReminderKey(a.id, a.version, r.kind));
}

async function lockAppointment(tx: Queryable, id: string): Promise<AppointmentRow> {
  const row = (await tx.query<AppointmentRow>('SELECT * FROM appointments WHERE id = $1 FOR UPDATE', [id])).rows[0];
  if (!row) throw new NotFoundError(`appointment ${id} not found`);
  return row;
}

async function scheduleReminders(tx: Queryable, a: AppointmentRow): Promise<number> {
  const contact = (
    await tx.query<{ name: string | null; email: string | null; phone: string | null; whatsapp: string | null }>(
      'SELECT name, email, phone, whatsapp FROM contacts WHERE id = $1',
      [a.contact_id],
    )
  ).rows[0];
  const address = a.channel === 'email' ? contact?.email : a.channel === 'whatsapp' ? (contact?.whatsapp ?? contact?.phone) : contact?.phone;
  if (!address) return 0;
  const startsAt = new Date(a.starts_at);
  const tenant = (await tx.query<{ timezone: string }>('SELECT timezone FROM tenants WHERE id = $1', [a.tenant_id])).rows[0];
  const localStartsAt = formatLocal(startsAt, tenant?.timezone ?? 'UTC');
  const now = Date.now();
  const requests: ScheduleRequest[] = APPOINTMENT_REMINDERS.filter((r) => startsAt.getTime() - r.beforeMs > now).map((r) => ({
    tenantId: a.tenant_id,
    contactId: a.contact_id,
    channel: a.channel as ChannelName,
    recipient: address,
    scheduledAt: new Date(startsAt.getTime() - r.beforeMs),
    subject: `Reminder: {{ appointment.title }} ${r.kind === '24h' ? 'tomorrow' : 'in 3 hours'}`,
    template: `Hello {{ contact.name | default: "there" }}, this is a reminder of {{ appointment.title }} on {{ appointment.localStartsAt }}.`,
    variables: {
      contact: { id: a.contact_id, name: contact?.name ?? null },
      appointment: { id: a.id, title: a.title, startsAt: startsAt.toISOString(), localStartsAt },
      reminder: r.kind,
    },
    type: 'appointment-reminder',
    idempotencyKey: appointmentReminderKey(a.id, a.version, r.kind),
  }));
  if (requests.length === 0) return 0;
  return (await scheduleMessages(tx, requests)).scheduled;
}

/** "Tue, Nov 24, 2026, 10:00 AM EST" in the tenant's zone; an unknown zone falls back to UTC. */
export function formatLocal(at: Date, timeZone: string): string {
  const options: Intl.DateTimeFormatOptions = {
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short',
  };
  try {
    return new Intl.DateTimeFormat('en-US', { ...options, timeZone }).format(at);
  } catch {
    return new Intl.DateTimeFormat('en-US', { ...options, timeZone: 'UTC' }).format(at);
  }
}
