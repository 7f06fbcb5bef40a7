import type { Database } from '../../db/database';
import { ConflictError, NotFoundError } from '../errors';
import { closeDunning, scheduleDunning, type InvoiceRow } from './dunning';

export interface NewInvoice {
  tenantId: string;
  contactId: string;
  amountCents: number;
  currency?: string | undefined;
  dueAt: Date;
  paymentLink: string;
  channel?: 'email' | 'sms' | 'whatsapp' | undefined;
}

/** Creates an invoice and schedules its dunning reminders in the same transaction. */
export function createInvoice(db: Database, input: NewInvoice, days: readonly number[]): Promise<InvoiceRow> {
  return db.transaction(async (tx) => {
    const contact = await tx.query('SELECT 1 FROM contacts WHERE id = $1 AND tenant_id = $2', [input.contactId, input.tenantId]);
    if (contact.rows.length === 0) throw new NotFoundError(`contactId: contact ${input.contactId} not found for tenant ${input.tenantId}`);
    const invoice = (
      await tx.query<InvoiceRow>(
        `INSERT INTO invoices (tenant_id, contact_id, amount_cents, currency, due_at, payment_link, channel)
         VALUES ($1, $2, $3, coalesce($4, 'USD'), $5, $6, coalesce($7, 'email')) RETURNING *`,
        [input.tenantId, input.contactId, input.amountCents, input.currency ?? null, input.dueAt, input.paymentLink, input.channel ?? null],
      )
    ).rows[0]!;
    await scheduleDunning(tx, invoice, days);
    return (await tx.query<InvoiceRow>('SELECT * FROM invoices WHERE id = $1', [invoice.id])).rows[0]!;
  });
}

/** Marks an invoice paid and stops its dunning at once (reminders not yet sent are cancelled). */
export function markInvoicePaid(db: Database, id: string, paidAt?: Date): Promise<{ invoice: InvoiceRow; remindersCancelled: number }> {
  return db.transaction(async (tx) => {
    const current = (await tx.query<InvoiceRow>('SELECT * FROM invoices WHERE id = $1 FOR UPDATE', [id])).rows[0];
    if (!current) throw new NotFoundError(`invoice ${id} not found`);
    if (current.status !== 'open') throw new ConflictError(`invoice ${id} is ${current.status}`);
    // The database clock by default, the same clock that stamps sent_at on reminders.
    await tx.query(`UPDATE invoices SET status = 'paid', paid_at = coalesce($2, now()) WHERE id = $1`, [id, paidAt ?? null]);
    const remindersCancelled = current.dunning_scheduled_at ? await closeDunning(tx, id) : 0;
    const invoice = (await tx.query<InvoiceRow>('SELECT * FROM invoices WHERE id = $1', [id])).rows[0]!;
    return { invoice, remindersCancelled };
  });
}
