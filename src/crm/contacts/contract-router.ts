import { Router } from 'express';
import type { Database } from '../../db/database';
import { DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS } from '../../http/app';
import { problemErrorHandler } from '../../http/problem';
import { appointmentApiSpec } from '../appointments/appointment-api-spec';
import { appointmentContractRoutes } from '../appointments/appointment-contract-routes';
import { invoiceApiSpec } from '../dunning/invoice-api-spec';
import { invoiceContractRoutes } from '../dunning/invoice-contract-routes';
import { leadApiSpec } from '../leads/lead-api-spec';
import { leadRoutes } from '../leads/lead-routes';
import { listApiSpec } from '../lists/list-api-spec';
import { listRoutes } from '../lists/list-routes';
import { segmentApiSpec } from '../segments/segment-api-spec';
import { segmentRoutes } from '../segments/segment-routes';
import { tenantApiSpec } from '../tenants/tenant-api-spec';
import { tenantRoutes } from '../tenants/tenant-routes';
import { contactApiSpec } from './contact-api-spec';
import { contactRoutes } from './contact-routes';

/**
 * The data contract's routes under /api/v1 (docs/data-contract.md): tenants, contacts, leads,
 * lists, segments, appointments and invoices, every error as RFC 9457 problem details.
 */
export function dataContractRoutes(deps: { db: Database; dunningReminderDays: readonly number[] }): Router {
  const router = Router();
  router.use(tenantRoutes(deps));
  router.use(contactRoutes(deps));
  router.use(leadRoutes(deps));
  router.use(listRoutes(deps));
  router.use(segmentRoutes(deps));
  router.use(appointmentContractRoutes(deps));
  router.use(invoiceContractRoutes(deps));
  router.use('/v1', problemErrorHandler(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS));
  return router;
}

/** The OpenAPI route specs of every route above, in the order the document lists them. */
export const dataContractApiSpec = [
  ...tenantApiSpec,
  ...contactApiSpec,
  ...leadApiSpec,
  ...listApiSpec,
  ...segmentApiSpec,
  ...appointmentApiSpec,
  ...invoiceApiSpec,
];
