import { Router } from 'express';
import type { DeliveryConfig } from '../../config/config';
import type { Queryable } from '../../db/database';
import type { RouteSpec } from '../../http/openapi/route-spec';
import type { FollowUpService } from '../followup-service';
import type { ValidationOptions } from '../schedule-request';
import type { WorkerHealth } from '../worker-health';
import { deliveryStatusApiSpec } from './delivery-status-api-spec';
import { deliveryStatusRoutes } from './delivery-status-routes';
import { messageActionApiSpec } from './message-action-api-spec';
import { messageActionRoutes } from './message-action-routes';
import { messageApiSpec } from './message-api-spec';
import { messageRoutes } from './message-routes';
import { messagingSettingsApiSpec } from './messaging-settings-api-spec';
import { messagingSettingsRoutes } from './messaging-settings-routes';
import { policyApiSpec } from './policy-api-spec';
import { policyRoutes } from './policy-routes';
import { suppressionApiSpec } from './suppression-api-spec';
import { suppressionRoutes } from './suppression-routes';

/** What the delivery routes under /api/v1 need. */
export interface DeliveryApiDeps {
  service: FollowUpService;
  validation: ValidationOptions;
  db: Queryable;
  config: DeliveryConfig;
  workerHealth: () => Promise<WorkerHealth>;
}

/** Every delivery route under /api/v1: messages, the steps on them, suppressions, policies, rule and status. */
export function deliveryApiRoutes(deps: DeliveryApiDeps): Router {
  return Router().use(
    messageRoutes(deps),
    messageActionRoutes(deps),
    suppressionRoutes(deps),
    messagingSettingsRoutes(deps),
    policyRoutes(deps),
    deliveryStatusRoutes(deps),
  );
}

/** What those routes promise, for the OpenAPI document. */
export const deliveryApiSpec: RouteSpec[] = [
  ...messageApiSpec,
  ...messageActionApiSpec,
  ...suppressionApiSpec,
  ...messagingSettingsApiSpec,
  ...policyApiSpec,
  ...deliveryStatusApiSpec,
];
