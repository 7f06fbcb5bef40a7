import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { entityId } from '../contacts/contact-schema';
import { LEAD_STATUSES, leadFields } from './lead-schema';

const instant = z.string().describe('ISO 8601 with offset');

/** What GET/PUT /v1/leads/:id answer (lead-view.ts). */
export const leadViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  contactId: z.string(),
  status: z.enum(LEAD_STATUSES),
  lastReplyAt: instant.nullable(),
  convertedAt: instant.nullable(),
  createdAt: instant,
  updatedAt: instant,
});
const withOutcome = leadViewSchema.extend({ outcome: z.enum(['created', 'updated', 'unchanged']) });
const invalid = { description: 'invalid input (an unknown tenant or contact included): the problem names each field', problem: true };

export const leadApiSpec: RouteSpec[] = [
  {
    method: 'put', path: '/v1/leads/{id}', operationId: 'upsertLead', tag: 'leads',
    summary: 'Creates or replaces a lead (idempotent); its contact must exist in its tenant', params: { id: entityId }, body: { 'application/json': leadFields },
    responses: {
      200: { description: 'updated or unchanged', schema: withOutcome },
      201: { description: 'created', schema: withOutcome },
      400: invalid,
      409: { description: 'the lead belongs to another tenant or another contact', problem: true },
    },
  },
  {
    method: 'get', path: '/v1/leads/{id}', operationId: 'getLead', tag: 'leads', summary: 'One lead', params: { id: entityId },
    responses: { 200: { description: 'the lead', schema: leadViewSchema }, 400: invalid, 404: { description: 'unknown lead', problem: true } },
  },
];
