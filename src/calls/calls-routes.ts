import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import type { Database } from '../db/database';
import { takesNoBody } from '../http/request-guard';
import { callOutcomeBody, callSettingsBody, describeIssues, enqueueCallBody, listCallsQuery } from './call-schemas';
import { cancelCall, reportCallOutcome } from './call-outcomes';
import { enqueueCall, getCall, listCalls, readCallSettings, replaceCallSettings, tenantExists } from './call-store';

export interface CallsRoutesDeps {
  db: Database;
  defaults: { maxAttempts: number; retrySpacingSeconds: number };
}

/**
 * /api/calls (enqueue, list, read, cancel, report an outcome) and /api/call-settings/:tenantId (hours,
 * holidays, retry policy). Every body is validated before anything is written; a 400 names the field.
 */
export function callsRoutes(deps: CallsRoutesDeps): Router {
  const router = Router();
  const { db } = deps;

  router.post('/calls', async (req, res) => {
    const body = parse(enqueueCallBody, req.body, res);
    if (!body) return;
    if (!(await tenantExists(db, body.tenantId))) return badRequest(res, `tenantId: unknown tenant "${body.tenantId}"`);
    const call = await enqueueCall(db, body, deps.defaults.maxAttempts);
    res.status(201).json({ call });
  });

  router.get('/calls', async (req, res) => {
    const query = parse(listCallsQuery, req.query, res);
    if (!query) return;
    res.json({ calls: await listCalls(db, query) });
  });

  router.get('/calls/:id', async (req, res) => {
    if (!/^\d{1,18}$/.test(req.params.id)) return badRequest(res, 'id: must be a call id (digits)');
    const call = await getCall(db, req.params.id);
    if (!call) return void res.status(404).json({ error: `call ${req.params.id} not found` });
    res.json({ call });
  });

  // Unknown calls and calls not awaiting this are thrown (NotFoundError, ConflictError) and
  // answered by the app's handler as { error } with 404 or 409, as before.
  router.post('/calls/:id/outcome', async (req, res) => {
    if (!/^\d{1,18}$/.test(req.params.id)) return badRequest(res, 'id: must be a call id (digits)');
    const body = parse(callOutcomeBody, req.body, res);
    if (!body) return;
    res.json({ call: await reportCallOutcome(db, req.params.id, body, deps.defaults) });
  });

  router.post('/calls/:id/cancel', takesNoBody(), async (req: Request<{ id: string }>, res) => {
    if (!/^\d{1,18}$/.test(req.params.id)) return badRequest(res, 'id: must be a call id (digits)');
    res.json({ call: await cancelCall(db, req.params.id) });
  });

  router.get('/call-settings/:tenantId', async (req, res) => {
    if (!(await tenantExists(db, req.params.tenantId))) {
      return void res.status(404).json({ error: `tenant "${req.params.tenantId}" not found` });
    }
    res.json(await readCallSettings(db, req.params.tenantId));
  });

  router.put('/call-settings/:tenantId', async (req, res) => {
    const body = parse(callSettingsBody, req.body, res);
    if (!body) return;
    if (!(await tenantExists(db, req.params.tenantId))) {
      return void res.status(404).json({ error: `tenant "${req.params.tenantId}" not found` });
    }
    await db.transaction((tx) => replaceCallSettings(tx, req.params.tenantId, body));
    res.json(await readCallSettings(db, req.params.tenantId));
  });

  return router;
}

function parse<S extends z.ZodType>(schema: S, input: unknown, res: Response): z.infer<S> | undefined {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  badRequest(res, describeIssues(parsed.error));
  return undefined;
}

function badRequest(res: Response, error: string): void {
  res.status(400).json({ error });
}
