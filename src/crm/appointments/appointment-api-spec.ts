import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { upsertAndGetSpecs } from '../contract-api-spec';
import { APPOINTMENT_CHANNELS, APPOINTMENT_STATUSES, appointmentFields } from './appointment-schema';

const instant = z.string().describe('ISO 8601 with offset');

/** What GET/PUT /v1/appointments/:id answer (appointment-view.ts). */
export const appointmentViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  contactId: z.string(),
  startsAt: instant,
  title: z.string(),
  channel: z.enum(APPOINTMENT_CHANNELS),
  status: z.enum(APPOINTMENT_STATUSES),
  version: z.number().int().describe('bumped on every move; its reminders are keyed by it'),
  createdAt: instant,
  updatedAt: instant,
});

export const appointmentApiSpec: RouteSpec[] = [
  ...upsertAndGetSpecs({
    plural: 'appointments',
    name: 'Appointment',
    putSummary: 'Creates or replaces an appointment (idempotent); its 24 h and 3 h reminders follow in the same transaction',
    getSummary: 'One appointment',
    body: appointmentFields,
    view: appointmentViewSchema,
    conflict: 'the appointment belongs to another tenant or contact, or is closed (cancelled, completed, no-show)',
    invalid: 'invalid input (an unknown tenant or contact included): the problem names each field',
  }),
];
