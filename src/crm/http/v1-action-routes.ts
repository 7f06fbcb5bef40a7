import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/database';
import { assertNoBody } from '../../http/no-body';
import { parseOrThrow } from '../../http/problem';
import { isoInstant } from '../../util/iso-time';
import { cancelAppointment, setAppointmentOutcome } from '../appointments/appointment-reminders';
import { appointmentView } from '../appointments/appointment-view';
import { entityId } from '../contacts/contact-schema';
import { invoiceView } from '../dunning/invoice-view';
import { markInvoicePaid } from '../dunning/invoices';
import { convertLead, recordContactReply } from '../leads/lead-events';
import { getLead } from '../leads/lead-store';
import { leadView } from '../leads/lead-view';

export const appointmentOutcomeBody = z.strictObject({
  status: z.enum(['completed', 'no-show'], { message: 'must be completed or no-show' }),
});
export const replyBody = z.strictObject({ at: isoInstant.optional().describe('when the contact replied; now when absent') });

/**
 * The data contract's entities' actions under /api/v1, beside their PUT/GET: cancel an
 * appointment or record how it went, mark an invoice paid, convert a lead, record a contact's
 * reply. Each does what its unversioned route does (the same module function, in one
 * transaction); unknown ids are 404 and a state that does not allow it 409, thrown by the module.
 */
export function contractActionRoutes(deps: { db: Database }): Router {
  const { db } = deps;
  const router = Router();
  const idOf = (raw: unknown) => parseOrThrow(entityId, raw, 'id');

  router.post('/v1/appointments/:id/cancel', async (req, res) => {
    const id = idOf(req.params.id);
    assertNoBody(req.body);
    const { appointment, remindersCancelled } = await cancelAppointment(db, id);
    res.json({ appointment: appointmentView(appointment), remindersCancelled });
  });
  router.post('/v1/appointments/:id/outcome', async (req, res) => {
    const id = idOf(req.params.id);
    const body = parseOrThrow(appointmentOutcomeBody, req.body ?? {});
    res.json(appointmentView(await setAppointmentOutcome(db, id, body.status)));
  });
  router.post('/v1/invoices/:id/paid', async (req, res) => {
    const id = idOf(req.params.id);
    assertNoBody(req.body);
    const { invoice, remindersCancelled } = await markInvoicePaid(db, id);
    res.json({ invoice: invoiceView(invoice), remindersCancelled });
  });
  router.post('/v1/leads/:id/convert', async (req, res) => {
    const id = idOf(req.params.id);
    assertNoBody(req.body);
    const { converted, nurtureStepsCancelled } = await convertLead(db, id);
    res.json({ lead: leadView((await getLead(db, id))!), converted, nurtureStepsCancelled });
  });
  router.post('/v1/contacts/:id/replies', async (req, res) => {
    const id = idOf(req.params.id);
    const body = parseOrThrow(replyBody, req.body ?? {});
    res.json(await recordContactReply(db, id, body.at ?? new Date()));
  });
  return router;
}
