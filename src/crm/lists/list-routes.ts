import { Router } from 'express';
import type { Database } from '../../db/database';
import { parseOrThrow, ProblemError, type FieldProblem, type CallerErrorKind } from '../../http/problem';
import { entityId } from '../contacts/contact-schema';
import { listFields, listMembersFields, toListInput } from './list-schema';
import { getList, replaceListMembers, upsertList, type ListUpsertOutcome } from './list-store';
import { listView } from './list-view';

const REFUSED: Partial<Record<ListUpsertOutcome, { kind: CallerErrorKind; problem: FieldProblem }>> = {
  'unknown-tenant': { kind: 'invalid-input', problem: { field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' } },
  'other-tenant': { kind: 'conflict', problem: { field: 'tenantId', message: 'the list belongs to another tenant; lists do not move between tenants' } },
};

/**
 * PUT /v1/lists/:id (idempotent upsert of the list itself), GET /v1/lists/:id, and
 * PUT /v1/lists/:id/members, which replaces the whole membership: the CRM sends its current list
 * and the same PUT twice changes nothing. A replacement rather than add/remove calls, so that a
 * retried or reordered request can never leave a membership the CRM did not hold.
 */
export function listRoutes(deps: { db: Database }): Router {
  const router = Router();
  router.put('/v1/lists/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const outcome = await upsertList(deps.db, toListInput(id, parseOrThrow(listFields, req.body ?? {})));
    const refused = REFUSED[outcome];
    if (refused) throw new ProblemError(refused.kind, `${refused.problem.field}: ${refused.problem.message}`, [refused.problem]);
    res.status(outcome === 'created' ? 201 : 200).json({ ...listView((await getList(deps.db, id))!), outcome });
  });

  router.get('/v1/lists/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const list = await getList(deps.db, id);
    if (!list) throw new ProblemError('not-found', `list ${id} not found`);
    res.json(listView(list));
  });

  router.put('/v1/lists/:id/members', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const { contactIds } = parseOrThrow(listMembersFields, req.body ?? {});
    const result = await replaceListMembers(deps.db, id, contactIds);
    if (result.outcome === 'unknown-list') throw new ProblemError('not-found', `list ${id} not found: PUT /api/v1/lists/${id} first`);
    if (result.outcome === 'unknown-contacts') {
      throw ProblemError.invalid(result.indexes.map((i) => ({ field: `contactIds[${i}]`, message: "is not a contact of the list's tenant" })));
    }
    res.json({ listId: id, ...result });
  });
  return router;
}
