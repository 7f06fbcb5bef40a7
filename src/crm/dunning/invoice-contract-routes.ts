import { Router } from 'express';
import type { Database } from '../../db/database';
import { parseOrThrow, ProblemError, type FieldProblem, type CallerErrorKind } from '../../http/problem';
import { entityId } from '../contacts/contact-schema';
import { invoiceFields, toInvoiceState } from './invoice-schema';
import { invoiceView } from './invoice-view';
import { getInvoice, putInvoice, type InvoicePutOutcome } from './invoices';

const REFUSED: Partial<Record<InvoicePutOutcome['outcome'], { kind: CallerErrorKind; problem: FieldProblem }>> = {
  'unknown-tenant': { kind: 'invalid-input', problem: { field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' } },
  'unknown-contact': { kind: 'invalid-input', problem: { field: 'contactId', message: 'unknown contact in this tenant: PUT /api/v1/contacts/:id first' } },
  'other-tenant': { kind: 'conflict', problem: { field: 'tenantId', message: 'the invoice belongs to another tenant; invoices do not move between tenants' } },
  'other-contact': {
    kind: 'conflict',
    problem: { field: 'contactId', message: 'the invoice belongs to another contact; invoices do not move between contacts' },
  },
};

/**
 * PUT /v1/invoices/:id (idempotent upsert; dunning scheduled or ended in the same transaction)
 * and GET /v1/invoices/:id. POST /api/invoices and /api/invoices/:id/paid stay as they are.
 */
export function invoiceContractRoutes(deps: { db: Database; dunningReminderDays: readonly number[] }): Router {
  const router = Router();
  router.put('/v1/invoices/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const result = await putInvoice(deps.db, toInvoiceState(id, parseOrThrow(invoiceFields, req.body ?? {})), deps.dunningReminderDays);
    const refused = REFUSED[result.outcome];
    if (refused) throw new ProblemError(refused.kind, `${refused.problem.field}: ${refused.problem.message}`, [refused.problem]);
    if (result.outcome === 'terms-changed') {
      const message = 'does not change once the invoice exists (its reminders carry it): void the invoice and send a new one';
      throw new ProblemError(
        'conflict',
        result.fields.map((f) => `${f}: ${message}`).join('; '),
        result.fields.map((field) => ({ field, message })),
      );
    }
    if (result.outcome === 'closed') {
      const message = `the invoice is ${result.status}; a paid or void invoice does not change any more`;
      throw new ProblemError('conflict', `status: ${message}`, [{ field: 'status', message }]);
    }
    if (!('invoice' in result)) throw new Error(`unexpected outcome ${result.outcome}`);
    res.status(result.outcome === 'created' ? 201 : 200).json({ ...invoiceView(result.invoice), outcome: result.outcome });
  });
  router.get('/v1/invoices/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const invoice = await getInvoice(deps.db, id);
    if (!invoice) throw new ProblemError('not-found', `invoice ${id} not found`);
    res.json(invoiceView(invoice));
  });
  return router;
}
