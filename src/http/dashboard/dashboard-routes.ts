import express, { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import { CallerError } from '../../errors/caller-error';
import type { Logger } from '../../logging/logger';
import { isApiKey } from '../api-key';
import { stringProblem } from '../request-guard';
import { ASSET_PATHS, DASHBOARD_CSS, DASHBOARD_JS } from './dashboard-assets';
import { confirmPage, layout, loginPage, messagePage } from './dashboard-layout';
import { campaignQuestion, overviewMain, redriveQuestion, VERDICT_QUESTIONS } from './dashboard-panels';
import { DashboardSessions, type Session } from './dashboard-session';
import type { CampaignAction, UnknownVerdict } from './dashboard-sources';
import { readDashboard, type DashboardReadDeps } from './dashboard-view';

export interface DashboardDeps extends DashboardReadDeps {
  apiKey: string | undefined;
  cookieSecure: boolean;
  sessionTtlMs: number;
  refreshSeconds: number;
  logger: Logger;
}

/** Only this worker's own script and style; no framing, no form posts elsewhere, no referrer. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const VERDICTS: readonly UnknownVerdict[] = ['sent', 'failed', 'resend'];
const CAMPAIGN_ACTIONS: readonly CampaignAction[] = ['pause', 'resume', 'cancel'];
const MESSAGE_ID = /^\d{1,18}$/;

type Locals = { session: Session; csrf: string };

/**
 * The operator dashboard under /dashboard: server-rendered pages, complete without JavaScript.
 * Sign-in exchanges API_KEY for a signed, HttpOnly, SameSite=Strict session cookie; every POST
 * carries the session's CSRF token, and every action asks for confirmation (a dialog with
 * JavaScript, a confirmation page without) before it calls the same service as /api/v1. Without
 * API_KEY the dashboard is disabled, as the API is: there is no key to sign in with.
 */
export function dashboardRoutes(deps: DashboardDeps): Router {
  const router = Router();
  const log = deps.logger.child({ component: 'dashboard' });

  router.get(ASSET_PATHS.js.replace('/dashboard', ''), (_req, res) => void res.type('text/javascript').set('cache-control', 'max-age=300').send(DASHBOARD_JS));
  router.get(ASSET_PATHS.css.replace('/dashboard', ''), (_req, res) => void res.type('text/css').set('cache-control', 'max-age=300').send(DASHBOARD_CSS));
  router.use((_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  });

  const apiKey = deps.apiKey;
  if (!apiKey) {
    router.use(
      (_req, res) =>
        void res
          .status(403)
          .type('html')
          .send(
            messagePage('Dashboard disabled', 'The dashboard is disabled: set API_KEY (at least 16 characters) to enable it; operators sign in with that key.'),
          ),
    );
    return router;
  }
  const sessions = new DashboardSessions({ apiKey, ttlMs: deps.sessionTtlMs, secure: deps.cookieSecure });
  router.use(express.urlencoded({ extended: false, limit: '16kb' }));

  router.get('/login', (req, res) => {
    if (sessions.read(req)) return void res.redirect(303, '/dashboard');
    res.type('html').send(loginPage());
  });

  router.post('/login', (req, res) => {
    const candidate: unknown = req.body?.apiKey;
    if (typeof candidate !== 'string' || !isApiKey(candidate, apiKey)) {
      log.warn('dashboard sign-in refused: wrong API key', { ip: req.ip });
      return void res.status(401).type('html').send(loginPage('Wrong API key.'));
    }
    sessions.start(res);
    log.info('dashboard sign-in', { ip: req.ip });
    res.redirect(303, '/dashboard');
  });

  // Everything below needs a session; a POST also needs the session's CSRF token.
  const signedIn: RequestHandler = (req, res, next) => {
    const session = sessions.read(req);
    if (!session) {
      if (req.method === 'GET' || req.method === 'HEAD') return void res.redirect(303, '/dashboard/login');
      return void res.status(401).type('html').send(messagePage('Not signed in', 'Sign in first: the session is missing or has expired. Nothing was changed.'));
    }
    if (req.method === 'POST' && !sessions.csrfValid(session, req.body?.csrf)) {
      log.warn('dashboard request refused: CSRF token missing or wrong', { path: req.path, ip: req.ip });
      return void res.status(403).type('html').send(messagePage('Refused', 'The form carried no valid CSRF token for this session. Nothing was changed.'));
    }
    res.locals.session = session;
    res.locals.csrf = sessions.csrfToken(session);
    next();
  };
  router.use(signedIn);
  const locals = (res: Response) => res.locals as Locals;

  router.get('/', async (req, res) => {
    const view = await readDashboard(deps);
    const { csrf } = locals(res);
    const body = overviewMain(view, csrf, noticeOf(req));
    res.type('html').send(layout('Dashboard', body, { refreshSeconds: deps.refreshSeconds, signedIn: { csrf } }));
  });

  router.post('/logout', (_req, res) => {
    sessions.end(res);
    res.redirect(303, '/dashboard/login');
  });

  /** An action runs only with confirm=yes; without it (no JavaScript) the confirmation page asks first. */
  const confirmed = (req: Request, res: Response, question: string, fields: Record<string, string> = {}): boolean => {
    if (req.body?.confirm === 'yes') return true;
    res.type('html').send(confirmPage(question, req.originalUrl, fields, locals(res).csrf));
    return false;
  };

  router.post('/messages/:id/redrive', async (req, res) => {
    const id = messageId(req.params.id);
    if (!confirmed(req, res, redriveQuestion(id))) return;
    const messages = need(deps.sources.messages);
    if (!(await messages.redrive(id))) throw await stateConflict(id, 'dead', 'redriven');
    log.info('dashboard: message redriven', { messageId: id });
    res.redirect(303, `/dashboard?done=redrive&id=${id}`);
  });

  router.post('/messages/:id/resolve', async (req, res) => {
    const id = messageId(req.params.id);
    const verdict = req.body?.outcome as UnknownVerdict;
    if (!VERDICTS.includes(verdict)) throw new CallerError('invalid-input', 'outcome: must be sent, failed or resend');
    if (!confirmed(req, res, VERDICT_QUESTIONS[verdict](id), { outcome: verdict })) return;
    const messages = need(deps.sources.messages);
    if (!(await messages.resolve(id, verdict))) throw await stateConflict(id, 'unknown', 'resolved');
    log.info('dashboard: unknown outcome resolved', { messageId: id, outcome: verdict });
    res.redirect(303, `/dashboard?done=resolve-${verdict}&id=${id}`);
  });

  router.post('/campaigns/:id/:action', async (req, res) => {
    const id = campaignId(req.params.id);
    const action = req.params.action as CampaignAction;
    if (!CAMPAIGN_ACTIONS.includes(action)) throw new CallerError('not-found', `no campaign action "${req.params.action}"`);
    const campaigns = need(deps.sources.campaigns);
    if (!confirmed(req, res, campaignQuestion(action, { id, name: id }))) return;
    await campaigns.act(id, action);
    log.info('dashboard: campaign action', { campaignId: id, action });
    res.redirect(303, `/dashboard?done=campaign-${action}&id=${encodeURIComponent(id)}`);
  });

  async function stateConflict(id: string, needed: string, step: string): Promise<CallerError> {
    const message = await deps.sources.messages!.get(id);
    if (!message) return new CallerError('not-found', `message ${id} not found`);
    return new CallerError('conflict', `message ${id} is ${message.status}: only ${needed} messages can be ${step}`);
  }

  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    if (err instanceof CallerError || (typeof err?.status === 'number' && err.status >= 400 && err.status < 500)) {
      const status = err instanceof CallerError ? err.status : (err.status as number);
      return void res
        .status(status)
        .type('html')
        .send(messagePage(status === 409 ? 'Not possible now' : 'Refused', String(err.message)));
    }
    log.error('dashboard request failed', { error: err?.stack ?? String(err) });
    res.status(500).type('html').send(messagePage('Failed', 'The request failed; the worker log has the details.'));
  };
  router.use(onError);
  return router;
}

function messageId(raw: string | undefined): string {
  if (!raw || !MESSAGE_ID.test(raw)) throw new CallerError('invalid-input', 'id: must be a message id (digits)');
  return raw;
}

function campaignId(raw: string | undefined): string {
  const id = raw?.trim() ?? '';
  if (id === '' || id.length > 200 || stringProblem(id)) throw new CallerError('invalid-input', 'id: must be a campaign id (1 to 200 characters)');
  return id;
}

function need<T>(source: T | undefined): T {
  if (!source) throw new CallerError('not-found', 'not part of this build');
  return source;
}

/** The note after an action (Post/Redirect/Get): from a fixed set, so no caller's text is shown as said by the worker. */
function noticeOf(req: Request): string | undefined {
  const done = typeof req.query.done === 'string' ? req.query.done : undefined;
  const id = typeof req.query.id === 'string' ? req.query.id.slice(0, 200) : '';
  const notes: Record<string, string> = {
    redrive: `Message ${id} redriven: due now.`,
    'resolve-sent': `Message ${id} recorded as sent.`,
    'resolve-failed': `Message ${id} recorded as failed.`,
    'resolve-resend': `Message ${id} scheduled to be sent again now.`,
    'campaign-pause': `Campaign ${id} paused.`,
    'campaign-resume': `Campaign ${id} resumed.`,
    'campaign-cancel': `Campaign ${id} cancelled.`,
  };
  return done === undefined ? undefined : notes[done];
}
