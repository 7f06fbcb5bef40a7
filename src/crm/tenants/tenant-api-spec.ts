import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { upsertAndGetSpecs } from '../contract-api-spec';
import { TENANT_STATUSES, tenantFields } from './tenant-schema';

const instant = z.string().describe('ISO 8601 with offset');

/** What GET/PUT /v1/tenants/:id answer (tenant-view.ts). */
export const tenantViewSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  status: z.enum(TENANT_STATUSES),
  timezone: z.string(),
  followupEnabled: z.boolean(),
  trialEndsAt: instant.nullable(),
  suspendedAt: instant.nullable(),
  suspensionReason: z.string().nullable(),
  createdAt: instant,
  updatedAt: instant,
});

export const tenantApiSpec: RouteSpec[] = [
  ...upsertAndGetSpecs({
    plural: 'tenants',
    name: 'Tenant',
    putSummary: 'Creates or replaces a tenant (idempotent)',
    getSummary: 'One tenant',
    body: tenantFields,
    view: tenantViewSchema,
  }),
];
