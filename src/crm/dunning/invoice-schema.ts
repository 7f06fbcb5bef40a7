import { z } from 'zod';
import { isoInstant } from '../../util/iso-time';
import { entityId } from '../contacts/contact-schema';
import type { InvoiceState } from './invoices';

export const INVOICE_STATUSES = ['open', 'paid', 'void'] as const;
export const INVOICE_CHANNELS = ['email', 'sms', 'whatsapp'] as const;

/**
 * An invoice as the CRM sends it to PUT /api/v1/invoices/:id (docs/data-contract.md), checked as
 * POST /api/invoices checks it. `status` is required: a default would try to reopen a paid one.
 */
export const invoiceFields = z
  .strictObject({
    tenantId: entityId,
    contactId: entityId,
    amountCents: z.number({ message: 'must be a number' }).int({ message: 'must be a whole number of cents' }).positive({ message: 'must be positive' }),
    currency: z
      .string({ message: 'must be a string' })
      .regex(/^[A-Z]{3}$/, { message: 'must be a three-letter ISO 4217 code such as USD' })
      .optional(),
    dueAt: isoInstant,
    paymentLink: z
      .string({ message: 'must be a string' })
      .url({ message: 'must be a URL' })
      .refine((u) => /^https?:/.test(u), { message: 'must be an http(s) URL' }),
    /** The channel of its payment reminders. */
    channel: z.enum(INVOICE_CHANNELS, { message: `must be one of ${INVOICE_CHANNELS.join(', ')}` }).optional(),
    status: z.enum(INVOICE_STATUSES, { message: `must be one of ${INVOICE_STATUSES.join(', ')}` }),
    /** When it was paid; with status paid only (absent: the database's clock at the PUT). */
    paidAt: isoInstant.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.paidAt !== undefined && v.status !== 'paid') ctx.addIssue({ code: 'custom', path: ['paidAt'], message: 'is only for status paid' });
  });

export function toInvoiceState(id: string, body: z.infer<typeof invoiceFields>): InvoiceState {
  return {
    id,
    tenantId: body.tenantId,
    contactId: body.contactId,
    amountCents: body.amountCents,
    // The defaults of the table and of POST /api/invoices.
    currency: body.currency ?? 'USD',
    dueAt: body.dueAt,
    paymentLink: body.paymentLink,
    channel: body.channel ?? 'email',
    status: body.status,
    paidAt: body.paidAt ?? null,
  };
}
