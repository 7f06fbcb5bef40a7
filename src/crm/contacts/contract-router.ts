import { Router } from 'express';
import type { Database } from '../../db/database';
import { DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS } from '../../http/app';
import { problemErrorHandler } from '../../http/problem';
import { tenantRoutes } from '../tenants/tenant-routes';
import { contactRoutes } from './contact-routes';

/**
 * The data contract's routes under /api/v1 (docs/data-contract.md): tenants and contacts, every
 * error as RFC 9457 problem details.
 */
export function dataContractRoutes(deps: { db: Database }): Router {
  const router = Router();
  router.use(tenantRoutes(deps));
  router.use(contactRoutes(deps));
  router.use('/v1', problemErrorHandler(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS));
  return router;
}
