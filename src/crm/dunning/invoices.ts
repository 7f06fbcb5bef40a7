import type { Database, Queryable } from '../../db/database';
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

/** An invoice as the CRM's PUT /api/v1/invoices/:id states it: every field given. */
export interface InvoiceState {
  id: string;
  tenantId: string;
  contactId: string;
  amountCents: number;
  currency: string;
  dueAt: Date;
  paymentLink: string;
  channel: InvoiceRow['channel'];
  status: InvoiceRow['status'];
  /** Only with status paid; the database's clock when absent. */
  paidAt: Date | null;
}

export type InvoicePutOutcome =
  | { outcome: 'created' | 'updated' | 'unchanged'; invoice: InvoiceRow }
  | { outcome: 'unknown-tenant' | 'unknown-contact' | 'other-tenant' | 'other-contact' }
  /** Amount, currency, due date, link or channel differ: the reminders already carry them. */
  | { outcome: 'terms-changed'; fields: string[] }
  /** A paid or void invoice does not change any more. */
  | { outcome: 'closed'; status: InvoiceRow['status'] };

/**
 * The CRM's idempotent upsert, in one transaction with the dunning: a new open invoice gets its
 * reminders at once (as POST /api/invoices); open → paid or void ends its dunning (as
 * /api/invoices/:id/paid). Its terms never change — the reminders already in the outbox carry
 * them, keyed without a version — so a changed amount is refused: void it and send a new one.
 */
export function putInvoice(db: Database, want: InvoiceState, days: readonly number[]): Promise<InvoicePutOutcome> {
  return db.transaction(async (tx) => {
    let current = await lockInvoice(tx, want.id);
    if (!current) {
      const contact = await tx.query('SELECT 1 FROM contacts WHERE id = $1 AND tenant_id = $2 FOR SHARE', [want.contactId, want.tenantId]);
      if (contact.rows.length === 0) {
        const tenant = await tx.query('SELECT 1 FROM tenants WHERE id = $1', [want.tenantId]);
        return { outcome: tenant.rows.length === 0 ? 'unknown-tenant' : 'unknown-contact' };
      }
      const inserted = (
        await tx.query<InvoiceRow>(
          `INSERT INTO invoices (id, tenant_id, contact_id, amount_cents, currency, due_at, payment_link, channel, status, paid_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $9 = 'paid' THEN coalesce($10, now()) END)
           ON CONFLICT (id) DO NOTHING RETURNING *`,
          [want.id, want.tenantId, want.contactId, want.amountCents, want.currency, want.dueAt, want.paymentLink, want.channel, want.status, want.paidAt],
        )
      ).rows[0];
      if (inserted) {
        if (inserted.status === 'open') await scheduleDunning(tx, inserted, days);
        return { outcome: 'created', invoice: (await lockInvoice(tx, want.id))! };
      }
      // Another request created it meanwhile: compare with what it wrote.
      current = (await lockInvoice(tx, want.id))!;
    }
    if (current.tenant_id !== want.tenantId) return { outcome: 'other-tenant' };
    if (current.contact_id !== want.contactId) return { outcome: 'other-contact' };
    const fields = termsDiffering(current, want);
    if (fields.length > 0) return { outcome: 'terms-changed', fields };
    const samePaidAt = want.paidAt === null || (current.paid_at !== null && new Date(current.paid_at).getTime() === want.paidAt.getTime());
    if (current.status === want.status && (want.status !== 'paid' || samePaidAt)) return { outcome: 'unchanged', invoice: current };
    if (current.status !== 'open') return { outcome: 'closed', status: current.status };
    await tx.query(`UPDATE invoices SET status = $2, paid_at = CASE WHEN $2 = 'paid' THEN coalesce($3, now()) END WHERE id = $1`, [
      want.id,
      want.status,
      want.paidAt,
    ]);
    if (current.dunning_scheduled_at) await closeDunning(tx, want.id);
    return { outcome: 'updated', invoice: (await lockInvoice(tx, want.id))! };
  });
}

export async function getInvoice(db: Queryable, id: string): Promise<InvoiceRow | undefined> {
  return (await db.query<InvoiceRow>('SELECT * FROM invoices WHERE id = $1', [id])).rows[0];
}

function termsDiffering(row: InvoiceRow, want: InvoiceState): string[] {
  const differs: Array<[string, boolean]> = [
    ['amountCents', Number(row.amount_cents) !== want.amountCents],
    ['currency', row.currency !== want.currency],
    ['dueAt', new Date(row.due_at).getTime() !== want.dueAt.getTime()],
    ['paymentLink', row.payment_link !== want.paymentLink],
    ['channel', row.channel !== want.channel],
  ];
  return differs.filter(([, d]) => d).map(([f]) => f);
}

async function lockInvoice(tx: Queryable, id: string): Promise<InvoiceRow | undefined> {
  return (await tx.query<InvoiceRow>('SELECT * FROM invoices WHERE id = $1 FOR UPDATE', [id])).rows[0];
}
