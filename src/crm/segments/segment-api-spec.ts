import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { entityId } from '../contacts/contact-schema';
import { segmentFields } from './segment-schema';

const instant = z.string().describe('ISO 8601 with offset');

/** What GET/PUT /v1/segments/:id answer (segment-view.ts). */
export const segmentViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  name: z.string(),
  tags: z.array(z.string()).min(1),
  createdAt: instant,
  updatedAt: instant,
});
const withOutcome = segmentViewSchema.extend({ outcome: z.enum(['created', 'updated', 'unchanged']) });
const invalid = { description: 'invalid input: the problem names each field', problem: true };

export const segmentApiSpec: RouteSpec[] = [
  {
    method: 'put', path: '/v1/segments/{id}', operationId: 'upsertSegment', tag: 'segments',
    summary: "Creates or replaces a segment: the tenant's contacts carrying all of its tags (idempotent)", params: { id: entityId },
    body: { 'application/json': segmentFields },
    responses: {
      200: { description: 'updated or unchanged', schema: withOutcome },
      201: { description: 'created', schema: withOutcome },
      400: invalid,
      409: { description: 'the segment belongs to another tenant', problem: true },
    },
  },
  {
    method: 'get', path: '/v1/segments/{id}', operationId: 'getSegment', tag: 'segments', summary: 'One segment', params: { id: entityId },
    responses: { 200: { description: 'the segment', schema: segmentViewSchema }, 400: invalid, 404: { description: 'unknown segment', problem: true } },
  },
];
