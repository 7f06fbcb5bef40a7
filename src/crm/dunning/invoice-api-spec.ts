import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { upsertAndGetSpecs } from '../contract-api-spec';
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

export const invoiceApiSpec: RouteSpec[] = [
  ...upsertAndGetSpecs({
    plural: 'invoices',
    name: 'Invoice',
    putSummary: 'Creates an invoice or moves it to paid or void (idempotent); its dunning follows in the same transaction',
    getSummary: 'One invoice',
    body: invoiceFields,
    view: invoiceViewSchema,
    conflict: 'another tenant or contact, changed terms (amount, currency, due date, link, channel), or a paid or void invoice',
    invalid: 'invalid input (an unknown tenant or contact included): the problem names each field',
  }),
];
