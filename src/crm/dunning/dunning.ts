import type { Queryable } from '../../db/database';
import { cancelMessages, scheduleMessages, type ChannelName, type ScheduleRequest } from '../../delivery/outbox';

const DAY_MS = 86_400_000;

export function dunningKey(invoiceId: string, day: number): string {
  return `dunning:${invoiceId}:${day}`;
}

export interface InvoiceRow {
  id: string;
  tenant_id: string;
  contact_id: string;
  amount_cents: string | number;
  currency: string;
  due_at: Date;
  payment_link: string;
  channel: 'email' | 'sms' | 'whatsapp';
  status: 'open' | 'paid' | 'void';
  paid_at: Date | null;
  dunning_scheduled_at: Date | null;
  recovered_by_dunning: boolean;
  dunning_closed_at: Date | null;
  dunning_days: number[] | null;
  created_at: Date;
}

/**
 * Puts an open invoice's payment reminders into the outbox: one per configured day after the
 * due date, at its exact time, carrying amount, days overdue and the payment link. Days already
 * past when the invoice is first seen collapse into one reminder now (with the true days
 * overdue), so an invoice entered late is not flooded. Marks the invoice scheduled.
 */
export async function scheduleDunning(tx: Queryable, invoice: InvoiceRow, days: readonly number[]): Promise<number> {
  const contact = (
    await tx.query<{ name: string | null; email: string | null; phone: string | null; whatsapp: string | null }>(
      'SELECT name, email, phone, whatsapp FROM contacts WHERE id = $1',
      [invoice.contact_id],
    )
  ).rows[0];
  const address = invoice.channel === 'email' ? contact?.email : invoice.channel === 'whatsapp' ? (contact?.whatsapp ?? contact?.phone) : contact?.phone;
  await tx.query('UPDATE invoices SET dunning_scheduled_at = now(), dunning_days = $2 WHERE id = $1', [invoice.id, [...days]]);
  if (!address) return 0;
  const dueAt = new Date(invoice.due_at).getTime();
  const now = Date.now();
  const future = days.filter((d) => dueAt + d * DAY_MS > now);
  const lastPast = days.filter((d) => dueAt + d * DAY_MS <= now).pop();
  const plan: Array<{ day: number; at: Date }> = [
    ...(lastPast !== undefined ? [{ day: lastPast, at: new Date(now) }] : []),
    ...future.map((d) => ({ day: d, at: new Date(dueAt + d * DAY_MS) })),
  ];
  const amount = Number(invoice.amount_cents) / 100;
  const requests: ScheduleRequest[] = plan.map(({ day, at }) => ({
    tenantId: invoice.tenant_id,
    contactId: invoice.contact_id,
    channel: invoice.channel as ChannelName,
    recipient: address,
    scheduledAt: at,
    subject: 'Payment reminder: {{ amount }} {{ currency }} overdue',
    template:
      'Hello {{ contact.name | default: "there" }}, your payment of {{ amount }} {{ currency }} is {{ daysOverdue }} days overdue. Pay here: {{ paymentLink }}',
    variables: {
      contact: { id: invoice.contact_id, name: contact?.name ?? null },
      invoiceId: invoice.id,
      amount: amount.toFixed(2),
      currency: invoice.currency,
      daysOverdue: Math.max(day, Math.floor((at.getTime() - dueAt) / DAY_MS)),
      paymentLink: invoice.payment_link,
    },
    type: 'dunning',
    idempotencyKey: dunningKey(invoice.id, day),
  }));
  if (requests.length === 0) return 0;
  return (await scheduleMessages(tx, requests)).scheduled;
}

/**
 * Ends dunning for a paid or void invoice: reminders not yet sent are cancelled, and a paid
 * invoice counts as recovered by dunning when at least one reminder was sent before payment.
 */
export async function closeDunning(tx: Queryable, invoiceId: string): Promise<number> {
  const planned = await tx.query<{ dunning_days: number[] | null }>('SELECT dunning_days FROM invoices WHERE id = $1', [invoiceId]);
  const keys = (planned.rows[0]?.dunning_days ?? []).map((d) => dunningKey(invoiceId, d));
  const cancelled = await cancelMessages(tx, keys);
  await tx.query(
    `UPDATE invoices i
        SET dunning_closed_at = now(),
            recovered_by_dunning = i.status = 'paid' AND EXISTS (
              SELECT 1 FROM scheduled_messages m
               WHERE m.idempotency_key = ANY($2::text[]) AND m.status = 'sent' AND m.sent_at <= coalesce(i.paid_at, now()))
      WHERE i.id = $1`,
    [invoiceId, keys],
  );
  return cancelled;
}
