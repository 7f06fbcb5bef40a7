import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import type { Database } from '../db/database';
import { takesNoBody } from '../http/request-guard';
import { callOutcomeBody, callSettingsBody, describeIssues, enqueueCallBody, listCallsQuery } from './call-schemas';
import { cancelQueuedCall, endUnansweredAttempt, enqueueCall, getCall, listCalls, readCallSettings, recordCallAnswered, replaceCallSettings, tenantExists } from './call-store';

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

  router.post('/calls/:id/outcome', async (req, res) => {
    if (!/^\d{1,18}$/.test(req.params.id)) return badRequest(res, 'id: must be a call id (digits)');
    const body = parse(callOutcomeBody, req.body, res);
    if (!body) return;
    const call = await getCall(db, req.params.id);
    if (!call) return void res.status(404).json({ error: `call ${req.params.id} not found` });
    const awaiting = call.status === 'dialing' || (call.status === 'in-progress' && body.outcome !== 'answered');
    if (!awaiting) return conflict(res, `status: call ${call.id} is ${call.status}, not awaiting an outcome`);
    if (body.attempt !== undefined && body.attempt !== call.attempts) {
      return conflict(res, `attempt: call ${call.id} is on attempt ${call.attempts}, not ${body.attempt}`);
    }
    const provider = body.providerCallId ?? null;
    if (body.outcome === 'answered' || body.outcome === 'completed') {
      const status = body.outcome === 'answered' ? 'in-progress' : 'completed';
      const updated = await recordCallAnswered(db, { id: call.id, attempt: call.attempts }, { status, outcome: body.outcome, providerCallId: provider });
      if (!updated) return conflict(res, `status: call ${call.id} changed meanwhile; read it again`);
    } else {
      const ended = await endUnansweredAttempt(db, { id: call.id, attempt: call.attempts }, {
        status: body.outcome,
        outcome: body.outcome,
        error: body.detail ?? null,
        // A failed call (bad number, carrier refusal) is not worth another ring.
        retry: body.outcome !== 'failed',
        now: null,
        defaultSpacingSeconds: deps.defaults.retrySpacingSeconds,
      });
      if (ended === 'stale') return conflict(res, `status: call ${call.id} changed meanwhile; read it again`);
    }
    res.json({ call: await getCall(db, call.id) });
  });

  router.post('/calls/:id/cancel', takesNoBody(), async (req: Request<{ id: string }>, res) => {
    if (!/^\d{1,18}$/.test(req.params.id)) return badRequest(res, 'id: must be a call id (digits)');
    // Only a call still waiting can be withdrawn; one already ringing reports its own outcome.
    const cancelled = await cancelQueuedCall(db, req.params.id);
    const call = await getCall(db, req.params.id);
    if (!call) return void res.status(404).json({ error: `call ${req.params.id} not found` });
    if (!cancelled) return conflict(res, `status: call ${call.id} is ${call.status}; only queued calls can be cancelled`);
    res.json({ call });
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

function conflict(res: Response, error: string): void {
  res.status(409).json({ error });
}

