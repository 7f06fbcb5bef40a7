import { Router } from 'express';
import type { Database } from '../../db/database';
import { parseOrThrow, ProblemError, type FieldProblem, type CallerErrorKind } from '../../http/problem';
import { entityId } from '../contacts/contact-schema';
import { segmentFields, toSegmentInput } from './segment-schema';
import { getSegment, upsertSegment, type SegmentUpsertOutcome } from './segment-store';
import { segmentView } from './segment-view';

const REFUSED: Partial<Record<SegmentUpsertOutcome, { kind: CallerErrorKind; problem: FieldProblem }>> = {
  'unknown-tenant': { kind: 'invalid-input', problem: { field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' } },
  'other-tenant': { kind: 'conflict', problem: { field: 'tenantId', message: 'the segment belongs to another tenant; segments do not move between tenants' } },
};

/**
 * PUT /v1/segments/:id (idempotent upsert: 201 created, 200 updated or unchanged) and
 * GET /v1/segments/:id. Errors are problem details, added by the router that mounts this one.
 */
export function segmentRoutes(deps: { db: Database }): Router {
  const router = Router();
  router.put('/v1/segments/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const outcome = await upsertSegment(deps.db, toSegmentInput(id, parseOrThrow(segmentFields, req.body ?? {})));
    const refused = REFUSED[outcome];
    if (refused) throw new ProblemError(refused.kind, `${refused.problem.field}: ${refused.problem.message}`, [refused.problem]);
    res.status(outcome === 'created' ? 201 : 200).json({ ...segmentView((await getSegment(deps.db, id))!), outcome });
  });
  router.get('/v1/segments/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const segment = await getSegment(deps.db, id);
    if (!segment) throw new ProblemError('not-found', `segment ${id} not found`);
    res.json(segmentView(segment));
  });
  return router;
}
