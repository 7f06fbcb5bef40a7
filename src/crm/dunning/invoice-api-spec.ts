import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { entityId } from '../contacts/contact-schema';
import { INVOICE_CHANNELS, INVOICE_STATUSES, invoiceFields } from './invoice-schema';

const instant = z.string().describe('ISO 8601 with offset');

/** What GET/PUT /v1/invoices/:id answer (invoice-view.ts). */
export const invoiceViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  contactId: z.string(),
  amountCents: z.number().int(),
  currency: z.string(),
  dueAt: instant,
  paymentLink: z.string(),
  channel: z.enum(INVOICE_CHANNELS),
  status: z.enum(INVOICE_STATUSES),
  paidAt: instant.nullable(),
  dunningScheduledAt: instant.nullable().describe('when its payment reminders were put in the outbox'),
  dunningClosedAt: instant.nullable().describe('when its dunning ended (paid or void)'),
  recoveredByDunning: z.boolean(),
  createdAt: instant,
});
const withOutcome = invoiceViewSchema.extend({ outcome: z.enum(['created', 'updated', 'unchanged']) });
const invalid = { description: 'invalid input (an unknown tenant or contact included): the problem names each field', problem: true };

export const invoiceApiSpec: RouteSpec[] = [
  {
    method: 'put', path: '/v1/invoices/{id}', operationId: 'upsertInvoice', tag: 'invoices',
    summary: 'Creates an invoice or moves it to paid or void (idempotent); its dunning follows in the same transaction',
    params: { id: entityId }, body: { 'application/json': invoiceFields },
    responses: {
      200: { description: 'updated or unchanged', schema: withOutcome },
      201: { description: 'created', schema: withOutcome },
      400: invalid,
      409: { description: 'another tenant or contact, changed terms (amount, currency, due date, link, channel), or a paid or void invoice', problem: true },
    },
  },
  {
    method: 'get', path: '/v1/invoices/{id}', operationId: 'getInvoice', tag: 'invoices', summary: 'One invoice', params: { id: entityId },
    responses: { 200: { description: 'the invoice', schema: invoiceViewSchema }, 400: invalid, 404: { description: 'unknown invoice', problem: true } },
  },
];
