import type { InvoiceRow } from './dunning';

const iso = (t: Date | null) => (t === null ? null : new Date(t).toISOString());

/** An invoice as the /api/v1 answers show it: camelCase, cents as a number, times in UTC (Z). */
export function invoiceView(row: InvoiceRow) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    contactId: row.contact_id,
    amountCents: Number(row.amount_cents),
    currency: row.currency,
    dueAt: iso(row.due_at)!,
    paymentLink: row.payment_link,
    channel: row.channel,
    status: row.status,
    paidAt: iso(row.paid_at),
    dunningScheduledAt: iso(row.dunning_scheduled_at),
    dunningClosedAt: iso(row.dunning_closed_at),
    recoveredByDunning: row.recovered_by_dunning,
    createdAt: iso(row.created_at)!,
  };
}
