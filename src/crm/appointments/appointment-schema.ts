import { z } from 'zod';
import { isoInstant } from '../../util/iso-time';
import { entityId } from '../contacts/contact-schema';
import type { AppointmentState } from './appointment-reminders';

export const APPOINTMENT_STATUSES = ['scheduled', 'cancelled', 'completed', 'no-show'] as const;
export const APPOINTMENT_CHANNELS = ['email', 'sms', 'whatsapp'] as const;

/**
 * An appointment as the CRM sends it to PUT /api/v1/appointments/:id (docs/data-contract.md): a
 * full replacement. `status` is required, since a default would try to reopen a closed one.
 */
export const appointmentFields = z.strictObject({
  tenantId: entityId,
  contactId: entityId,
  startsAt: isoInstant,
  title: z
    .string({ message: 'must be a string' })
    .trim()
    .min(1, { message: 'must not be empty' })
    .max(200, { message: 'must be at most 200 characters' })
    .optional(),
  /** The channel of its reminders. */
  channel: z.enum(APPOINTMENT_CHANNELS, { message: `must be one of ${APPOINTMENT_CHANNELS.join(', ')}` }).optional(),
  status: z.enum(APPOINTMENT_STATUSES, { message: `must be one of ${APPOINTMENT_STATUSES.join(', ')}` }),
});

export function toAppointmentState(id: string, body: z.infer<typeof appointmentFields>): AppointmentState {
  return {
    id,
    tenantId: body.tenantId,
    contactId: body.contactId,
    startsAt: body.startsAt,
    // The defaults of the table and of POST /api/appointments.
    title: body.title ?? 'Appointment',
    channel: body.channel ?? 'email',
    status: body.status,
  };
}
