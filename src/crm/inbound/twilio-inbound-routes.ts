import express, { Router } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/database';
import { DEFAULT_HELP_TEXT, readMessagingSettings, tenantKnown } from '../../delivery/messaging-settings';
import { putSuppression, removeSuppression } from '../../delivery/suppression-store';
import { ForbiddenError, NotFoundError } from '../../errors/caller-error';
import { parseOrThrow } from '../../http/problem';
import type { Logger } from '../../logging/logger';
import { contactIdsByNumber } from '../contacts/contact-store';
import { recordContactReply } from '../leads/lead-events';
import { inboundKeywordOf } from './inbound-keywords';
import { EMPTY_TWIML, messageTwiml } from './twiml';

export interface TwilioInboundDeps {
  db: Database;
  logger: Logger;
  /** TWILIO_AUTH_TOKEN: Twilio signs every webhook of the account with it. Undefined: route off. */
  authToken: string | undefined;
  /** PUBLIC_BASE_URL: the URL Twilio calls is this plus the request's path. Undefined: route off. */
  publicBaseUrl: string | undefined;
}

export const inboundTenantIdParam = z.string().trim().min(1, { message: 'required' }).max(200);

/** The fields of Twilio's inbound message request that are read; Twilio sends many more. */
export const twilioInboundBody = z.looseObject({
  From: z
    .string({ message: 'required: the sender, +E.164 or whatsapp:+E.164' })
    .regex(/^(whatsapp:)?\+[1-9]\d{6,14}$/, { message: 'must be +E.164 or whatsapp:+E.164' }),
  // PostgreSQL text cannot hold NUL: refused here as a 400 rather than failing the insert.
  Body: z
    .string({ message: 'must be a string' })
    .max(20_000)
    .refine((v) => !v.includes('\u0000'), { message: 'must not contain NUL characters' })
    .optional(),
});

/**
 * Twilio's inbound webhook for SMS and WhatsApp, one URL per tenant:
 * POST <PUBLIC_BASE_URL>/api/v1/inbound/twilio/<tenantId>, form-encoded as Twilio sends it. Not
 * behind the API key: the X-Twilio-Signature header, checked with the twilio package's
 * validateRequest over the public URL and the form fields, is the authentication; a request
 * without it or with a wrong one is refused (403) before anything is read or written.
 *
 * Then, by what the message says: STOP, UNSUBSCRIBE, CANCEL, END or QUIT suppress the sender on
 * that channel (the one suppressions store, source inbound-stop); START or UNSTOP lift that
 * channel's opt-out; HELP is answered with the tenant's help text; anything else from a known
 * contact is a reply through the one reply door (recordContactReply: stop-on-reply messages,
 * nurture sequences and lead reminders stop). An unknown sender's reply is logged and dropped.
 * The answer is TwiML: empty, or the HELP message.
 */
export function twilioInboundRoutes(deps: TwilioInboundDeps): Router {
  const router = Router();
  const log = deps.logger.child({ route: 'twilio-inbound' });
  // Twilio's messages are small; the limit only stops a caller flooding the parser.
  const form = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 200 });

  router.post('/v1/inbound/twilio/:tenantId', form, async (req, res) => {
    const { authToken, publicBaseUrl } = deps;
    if (!authToken || !publicBaseUrl) throw new NotFoundError('the inbound webhook is not configured here: set PUBLIC_BASE_URL and TWILIO_AUTH_TOKEN');
    const params: Record<string, string> = req.is('application/x-www-form-urlencoded') && req.body ? req.body : {};
    const signature = req.get('x-twilio-signature');
    // The URL Twilio signed is the one it called: the public one, not what a proxy forwarded to.
    // The twilio library is loaded on the first inbound request, not with every worker (client-libraries-on-demand).
    const { validateRequest } = (await import('twilio')).default;
    if (!signature || !validateRequest(authToken, signature, publicBaseUrl + req.originalUrl, params)) {
      log.warn('inbound request refused: missing or wrong X-Twilio-Signature', { path: req.path });
      throw new ForbiddenError('missing or wrong X-Twilio-Signature');
    }
    const tenantId = parseOrThrow(inboundTenantIdParam, req.params.tenantId, 'tenantId');
    const body = parseOrThrow(twilioInboundBody, params);
    if (!(await tenantKnown(deps.db, tenantId))) throw new NotFoundError(`tenant "${tenantId}" not found`);

    const channel = body.From.startsWith('whatsapp:') ? 'whatsapp' : 'sms';
    const number = body.From.replace(/^whatsapp:/, '');
    const keyword = inboundKeywordOf(body.Body);
    let answer = EMPTY_TWIML;
    if (keyword === 'stop') {
      await putSuppression(deps.db, { tenantId, channel, recipient: number, reason: `inbound ${body.Body!.trim().toUpperCase()}`, source: 'inbound-stop' });
    } else if (keyword === 'start') {
      await removeSuppression(deps.db, { tenantId, channel, recipient: number });
    } else if (keyword === 'help') {
      answer = messageTwiml((await readMessagingSettings(deps.db, tenantId)).helpText ?? DEFAULT_HELP_TEXT);
    } else {
      const contacts = await contactIdsByNumber(deps.db, tenantId, channel, number);
      const receivedAt = new Date();
      for (const contactId of contacts)
        await recordContactReply(deps.db, contactId, receivedAt, { channel, ...(body.Body === undefined ? {} : { body: body.Body }) });
      if (contacts.length === 0) log.info('inbound message from an unknown sender: not recorded', { tenantId, channel });
    }
    log.info('inbound message handled', { tenantId, channel, keyword: keyword ?? 'reply' });
    res.status(200).type('text/xml').send(answer);
  });

  return router;
}
