import { Router, type Response } from 'express';
import type { Queryable } from '../../db/database';
import { ForbiddenError, NotFoundError } from '../../errors/caller-error';
import type { UnsubscribeLinks, UnsubscribeTarget } from '../../channels/unsubscribe-links';
import { putSuppression } from '../suppression-store';

/**
 * One-click unsubscribe (RFC 8058), called by the recipient's mail client or by the recipient,
 * never with the API key: the signed token in the path is the authentication (unsubscribe-links.ts).
 * POST opts the recipient out of e-mail for that tenant, in the one suppressions store with
 * source 'unsubscribe'; GET only shows a page with a button that POSTs, because mail scanners and
 * link previews follow GET links and must not unsubscribe anyone. A forged or altered token is
 * refused (403) before anything is read or written.
 */
export function unsubscribeRoutes(deps: { db: Queryable; links: UnsubscribeLinks | undefined }): Router {
  const router = Router();
  const targetOf = (token: string): UnsubscribeTarget => {
    if (!deps.links) throw new NotFoundError('unsubscribe links are not configured here (UNSUBSCRIBE_SECRET)');
    const target = deps.links.verify(token);
    if (!target) throw new ForbiddenError('this unsubscribe link is not valid: it was not issued here or has been altered');
    return target;
  };

  router.get('/v1/unsubscribe/:token', (req, res) => {
    const target = targetOf(req.params.token);
    page(
      res,
      'Unsubscribe',
      `<p>Stop e-mails to <strong>${escapeHtml(target.recipient)}</strong>?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
    );
  });

  router.post('/v1/unsubscribe/:token', async (req, res) => {
    const target = targetOf(req.params.token);
    await putSuppression(deps.db, { ...target, reason: 'one-click unsubscribe', source: 'unsubscribe' });
    page(res, 'Unsubscribed', `<p><strong>${escapeHtml(target.recipient)}</strong> will get no more e-mails from this sender.</p>`);
  });

  return router;
}

function page(res: Response, title: string, body: string): void {
  res
    .status(200)
    .type('html')
    .set('Cache-Control', 'no-store')
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
