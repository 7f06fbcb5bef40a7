import { Router } from 'express';
import type { Database } from '../../db/database';
import { parseOrThrow, ProblemError, type FieldProblem, type CallerErrorKind } from '../../http/problem';
import { entityId } from '../contacts/contact-schema';
import { leadFields, toLeadInput } from './lead-schema';
import { getLead, upsertLead, type LeadUpsertOutcome } from './lead-store';
import { leadView } from './lead-view';

const REFUSED: Partial<Record<LeadUpsertOutcome, { kind: CallerErrorKind; problem: FieldProblem }>> = {
  'unknown-tenant': { kind: 'invalid-input', problem: { field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' } },
  'unknown-contact': { kind: 'invalid-input', problem: { field: 'contactId', message: 'unknown contact in this tenant: PUT /api/v1/contacts/:id first' } },
  'other-tenant': { kind: 'conflict', problem: { field: 'tenantId', message: 'the lead belongs to another tenant; leads do not move between tenants' } },
  'other-contact': { kind: 'conflict', problem: { field: 'contactId', message: 'the lead belongs to another contact; leads do not move between contacts' } },
};

/**
 * PUT /v1/leads/:id (idempotent upsert: 201 created, 200 updated or unchanged) and
 * GET /v1/leads/:id. Errors are problem details, added by the router that mounts this one.
 */
export function leadRoutes(deps: { db: Database }): Router {
  const router = Router();
  router.put('/v1/leads/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const outcome = await upsertLead(deps.db, toLeadInput(id, parseOrThrow(leadFields, req.body ?? {})));
    const refused = REFUSED[outcome];
    if (refused) throw new ProblemError(refused.kind, `${refused.problem.field}: ${refused.problem.message}`, [refused.problem]);
    res.status(outcome === 'created' ? 201 : 200).json({ ...leadView((await getLead(deps.db, id))!), outcome });
  });
  router.get('/v1/leads/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const lead = await getLead(deps.db, id);
    if (!lead) throw new ProblemError('not-found', `lead ${id} not found`);
    res.json(leadView(lead));
  });
  return router;
}
