import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { appointmentViewSchema } from '../appointments/appointment-api-spec';
import { entityId } from '../contacts/contact-schema';
import { invoiceViewSchema } from '../dunning/invoice-api-spec';
import { leadViewSchema } from '../leads/lead-api-spec';
import { appointmentOutcomeBody, replyBody } from './v1-action-routes';

const params = { id: entityId };
const count = z.number().int();
const noBody = { description: 'a body was sent (this route takes none) or the id is malformed', problem: true };
const invalid = { description: 'invalid input: the problem names each field', problem: true };
const notFound = (what: string) => ({ description: `unknown ${what}`, problem: true });

/** The actions of the data contract's entities (v1-action-routes.ts). */
export const contractActionApiSpec: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/appointments/{id}/cancel',
    operationId: 'cancelAppointment',
    tag: 'appointments',
    params,
    summary: 'Cancels an appointment and its reminders not yet sent; cancelling again changes nothing',
    responses: {
      200: { description: 'cancelled', schema: z.strictObject({ appointment: appointmentViewSchema, remindersCancelled: count }) },
      400: noBody,
      404: notFound('appointment'),
    },
  },
  {
    method: 'post',
    path: '/v1/appointments/{id}/outcome',
    operationId: 'recordAppointmentOutcome',
    tag: 'appointments',
    params,
    summary: 'Records how a scheduled appointment went (completed counts as kept in the KPIs)',
    body: { 'application/json': appointmentOutcomeBody },
    responses: {
      200: { description: 'the appointment', schema: appointmentViewSchema },
      400: invalid,
      404: notFound('appointment'),
      409: { description: 'the appointment is not scheduled any more', problem: true },
    },
  },
  {
    method: 'post',
    path: '/v1/invoices/{id}/paid',
    operationId: 'markInvoicePaid',
    tag: 'invoices',
    params,
    summary: 'Marks an open invoice paid now; its dunning reminders not yet sent are cancelled',
    responses: {
      200: { description: 'paid', schema: z.strictObject({ invoice: invoiceViewSchema, remindersCancelled: count }) },
      400: noBody,
      404: notFound('invoice'),
      409: { description: 'the invoice is not open (paid or void)', problem: true },
    },
  },
  {
    method: 'post',
    path: '/v1/leads/{id}/convert',
    operationId: 'convertLead',
    tag: 'leads',
    params,
    summary: 'Converts an open lead: no more reminders, its nurture sequences stop; a lead not open is left as it is',
    responses: {
      200: {
        description: 'the lead; converted says whether this call changed it',
        schema: z.strictObject({ lead: leadViewSchema, converted: z.boolean(), nurtureStepsCancelled: count }),
      },
      400: noBody,
      404: notFound('lead'),
    },
  },
  {
    method: 'post',
    path: '/v1/contacts/{id}/replies',
    operationId: 'recordContactReply',
    tag: 'contacts',
    params,
    summary: "Records a contact's reply: its stop-on-reply messages are skipped, its open leads' no-reply clocks restart, its nurture sequences stop",
    body: { 'application/json': replyBody },
    responses: {
      200: { description: 'recorded', schema: z.strictObject({ leadsUpdated: count, nurtureStepsCancelled: count }) },
      400: invalid,
      404: notFound('contact'),
    },
  },
];
