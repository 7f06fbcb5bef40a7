import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { entityId } from '../contacts/contact-schema';
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
const withOutcome = tenantViewSchema.extend({ outcome: z.enum(['created', 'updated', 'unchanged']) });
const invalid = { description: 'invalid input: the problem names each field', problem: true };

export const tenantApiSpec: RouteSpec[] = [
  {
    method: 'put', path: '/v1/tenants/{id}', operationId: 'upsertTenant', tag: 'tenants',
    summary: 'Creates or replaces a tenant (idempotent)', params: { id: entityId }, body: { 'application/json': tenantFields },
    responses: { 200: { description: 'updated or unchanged', schema: withOutcome }, 201: { description: 'created', schema: withOutcome }, 400: invalid },
  },
  {
    method: 'get', path: '/v1/tenants/{id}', operationId: 'getTenant', tag: 'tenants', summary: 'One tenant', params: { id: entityId },
    responses: { 200: { description: 'the tenant', schema: tenantViewSchema }, 400: invalid, 404: { description: 'unknown tenant', problem: true } },
  },
];
