import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/database';
import { cancelAppointment, createAppointment, moveAppointment, setAppointmentOutcome } from '../appointments/appointment-reminders';
import { cancelCampaign, getCampaign, pauseCampaign, resumeCampaign } from '../campaigns/campaign-store';
import type { TemplateEngine } from '../../templates/template-engine';
import { campaignFields } from '../campaigns/campaign-schema';
import { createCampaign } from '../campaigns/create-campaign';
import { createInvoice, markInvoicePaid } from '../dunning/invoices';
import { NotFoundError } from '../errors';
import { computeKpiSnapshot, getKpiSnapshot } from '../kpi/kpi-snapshots';
import { getTenant } from '../tenants/tenant-store';
import { recordContactReply, convertLead } from '../leads/lead-events';
import { enrollContact, stopEnrollment } from '../nurture/nurture';
import { calendarDate, isoInstant } from '../../util/iso-time';
import { takesNoBody } from '../../http/request-guard';
import { parseBody, validationMessage } from './validation';

const id = z.string().trim().min(1, { message: 'must not be empty' }).max(200, { message: 'must be at most 200 characters' });
// Times go through the one strict parser: z.coerce.date turned null, 0 and true into 1970.
const instant = isoInstant;

const channel = z.enum(['email', 'sms', 'whatsapp'], { message: 'must be email, sms or whatsapp' });
const appointmentBody = z
  .object({ tenantId: id, contactId: id, startsAt: instant, title: z.string().trim().min(1).max(200).optional(), channel: channel.optional() })
  .strict();
const moveBody = z.object({ startsAt: instant }).strict();
const outcomeBody = z.object({ status: z.enum(['completed', 'no-show'], { message: 'must be completed or no-show' }) }).strict();
const enrollBody = z.object({ sequenceId: id, contactId: id, leadId: id.optional() }).strict();
const replyBody = z.object({ at: instant.optional() }).strict();
const invoiceBody = z
  .object({
    tenantId: id,
    contactId: id,
    amountCents: z.number({ message: 'must be a number' }).int({ message: 'must be a whole number of cents' }).positive({ message: 'must be positive' }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, { message: 'must be a three-letter ISO 4217 code such as USD' })
      .optional(),
    dueAt: instant,
    paymentLink: z
      .string()
      .url({ message: 'must be a URL' })
      .refine((u) => /^https?:/.test(u), { message: 'must be an http(s) URL' }),
    channel: channel.optional(),
  })
  .strict();
const snapshotQuery = z.object({ tenantId: id, date: calendarDate }).strict();

/**
 * /api routes of the CRM jobs: campaigns (create, read, pause, resume, cancel), appointments
 * (create, move, cancel, outcome), nurture enrolments, reply and conversion events, invoices
 * and KPI snapshots. Every body is validated before anything is written; a 400 names the field.
 */
export function crmRoutes(deps: { db: Database; dunningReminderDays: readonly number[]; templates: TemplateEngine }): Router {
  const { db } = deps;
  const router = Router();
  const noBody = takesNoBody();
  const handle = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: (err: unknown) => void) =>
    fn(req, res).catch((err) => {
      const message = validationMessage(err);
      if (message) res.status(400).json({ error: message });
      else next(err);
    });

  router.post(
    '/campaigns',
    handle(async (req, res) => {
      res.status(201).json(await createCampaign(db, deps.templates, parseBody(campaignFields, req.body)));
    }),
  );
  router.get(
    '/campaigns/:id',
    handle(async (req, res) => {
      // Counts of sent/failed are refreshed by campaign-scheduler every tick; a GET only reads.
      const campaign = await getCampaign(db, String(req.params.id));
      if (!campaign) throw new NotFoundError(`campaign ${req.params.id} not found`);
      res.json(campaign);
    }),
  );
  router.post(
    '/campaigns/:id/pause',
    noBody,
    handle(async (req, res) => void res.json(await pauseCampaign(db, String(req.params.id)))),
  );
  router.post(
    '/campaigns/:id/resume',
    noBody,
    handle(async (req, res) => void res.json(await resumeCampaign(db, String(req.params.id)))),
  );
  router.post(
    '/campaigns/:id/cancel',
    noBody,
    handle(async (req, res) => void res.json(await cancelCampaign(db, String(req.params.id)))),
  );

  router.post(
    '/appointments',
    handle(async (req, res) => {
      res.status(201).json(await createAppointment(db, parseBody(appointmentBody, req.body)));
    }),
  );
  router.patch(
    '/appointments/:id',
    handle(async (req, res) => {
      res.json(await moveAppointment(db, String(req.params.id), parseBody(moveBody, req.body).startsAt));
    }),
  );
  router.post(
    '/appointments/:id/cancel',
    noBody,
    handle(async (req, res) => void res.json(await cancelAppointment(db, String(req.params.id)))),
  );
  router.post(
    '/appointments/:id/outcome',
    handle(async (req, res) => {
      res.json(await setAppointmentOutcome(db, String(req.params.id), parseBody(outcomeBody, req.body).status));
    }),
  );

  router.post(
    '/nurture/enrollments',
    handle(async (req, res) => {
      res.status(201).json(await enrollContact(db, parseBody(enrollBody, req.body)));
    }),
  );
  router.post(
    '/nurture/enrollments/:id/stop',
    noBody,
    handle(async (req, res) => {
      const cancelled = await db.transaction((tx) => stopEnrollment(tx, String(req.params.id), 'manual'));
      res.json({ stepsCancelled: cancelled });
    }),
  );

  router.post(
    '/contacts/:id/replies',
    handle(async (req, res) => {
      const body = parseBody(replyBody, req.body ?? {});
      res.json(await recordContactReply(db, String(req.params.id), body.at ?? new Date()));
    }),
  );
  router.post(
    '/leads/:id/convert',
    noBody,
    handle(async (req, res) => void res.json(await convertLead(db, String(req.params.id)))),
  );

  router.post(
    '/invoices',
    handle(async (req, res) => {
      res.status(201).json(await createInvoice(db, parseBody(invoiceBody, req.body), deps.dunningReminderDays));
    }),
  );
  router.post(
    '/invoices/:id/paid',
    noBody,
    handle(async (req, res) => void res.json(await markInvoicePaid(db, String(req.params.id)))),
  );

  router.get(
    '/kpi-snapshots',
    handle(async (req, res) => {
      const q = parseBody(snapshotQuery, req.query);
      const row = await getKpiSnapshot(db, q.tenantId, q.date);
      if (!row) throw new NotFoundError(`no snapshot for tenant ${q.tenantId} on ${q.date}`);
      res.json(row);
    }),
  );
  router.post(
    '/kpi-snapshots/recompute',
    handle(async (req, res) => {
      const q = parseBody(snapshotQuery, req.body);
      if (!(await getTenant(db, q.tenantId))) throw new NotFoundError(`tenantId: tenant ${q.tenantId} not found`);
      res.json(await computeKpiSnapshot(db, q.tenantId, q.date));
    }),
  );
  return router;
}
