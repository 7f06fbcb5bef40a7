import { Router } from 'express';
import type { Database } from '../../db/database';
import type { TemplateEngine } from '../../templates/template-engine';
import { DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS } from '../../http/app';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { problemErrorHandler } from '../../http/problem';
import { campaignApiSpec } from '../campaigns/campaign-api-spec';
import { campaignRoutes } from '../campaigns/campaign-routes';
import { kpiApiSpec } from '../kpi/kpi-api-spec';
import { kpiRoutes } from '../kpi/kpi-routes';
import { nurtureApiSpec } from '../nurture/nurture-api-spec';
import { nurtureRoutes } from '../nurture/nurture-routes';
import { contractActionApiSpec } from './v1-action-api-spec';
import { contractActionRoutes } from './v1-action-routes';

/**
 * The CRM jobs' routes under /api/v1 (campaigns, nurture enrolments, KPI snapshots, and the
 * actions of the contract's appointments, invoices, leads and contacts), errors as problem details.
 */
export function crmV1Routes(deps: { db: Database; templates: TemplateEngine }): Router {
  const router = Router();
  router.use(campaignRoutes(deps));
  router.use(nurtureRoutes(deps));
  router.use(kpiRoutes(deps));
  router.use(contractActionRoutes(deps));
  router.use('/v1', problemErrorHandler(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS));
  return router;
}

/** The OpenAPI route specs of every route above. */
export const crmV1ApiSpec: RouteSpec[] = [...contractActionApiSpec, ...campaignApiSpec, ...nurtureApiSpec, ...kpiApiSpec];
