import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { entityId } from '../contacts/contact-schema';
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
const withOutcome = appointmentViewSchema.extend({ outcome: z.enum(['created', 'updated', 'unchanged']) });
const invalid = { description: 'invalid input (an unknown tenant or contact included): the problem names each field', problem: true };

export const appointmentApiSpec: RouteSpec[] = [
  {
    method: 'put', path: '/v1/appointments/{id}', operationId: 'upsertAppointment', tag: 'appointments',
    summary: 'Creates or replaces an appointment (idempotent); its 24 h and 3 h reminders follow in the same transaction',
    params: { id: entityId }, body: { 'application/json': appointmentFields },
    responses: {
      200: { description: 'updated or unchanged', schema: withOutcome },
      201: { description: 'created', schema: withOutcome },
      400: invalid,
      409: { description: 'the appointment belongs to another tenant or contact, or is closed (cancelled, completed, no-show)', problem: true },
    },
  },
  {
    method: 'get', path: '/v1/appointments/{id}', operationId: 'getAppointment', tag: 'appointments', summary: 'One appointment', params: { id: entityId },
    responses: { 200: { description: 'the appointment', schema: appointmentViewSchema }, 400: invalid, 404: { description: 'unknown appointment', problem: true } },
  },
];
