import { Router } from 'express';
import type { Database } from '../../db/database';
import { parseOrThrow, ProblemError } from '../../http/problem';
import { entityId } from '../contacts/contact-schema';
import { tenantFields, toTenantInput } from './tenant-schema';
import { getTenant, upsertTenant } from './tenant-store';
import { tenantView } from './tenant-view';

/**
 * PUT /v1/tenants/:id (idempotent upsert: 201 created, 200 updated or unchanged) and
 * GET /v1/tenants/:id. Errors are problem details, added by the router that mounts this one.
 */
export function tenantRoutes(deps: { db: Database }): Router {
  const router = Router();
  router.put('/v1/tenants/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const body = parseOrThrow(tenantFields, req.body ?? {});
    const { tenant, outcome } = await upsertTenant(deps.db, toTenantInput(id, body));
    res.status(outcome === 'created' ? 201 : 200).json({ ...tenantView(tenant), outcome });
  });
  router.get('/v1/tenants/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const tenant = await getTenant(deps.db, id);
    if (!tenant) throw new ProblemError('not-found', `tenant ${id} not found`);
    res.json(tenantView(tenant));
  });
  return router;
}
