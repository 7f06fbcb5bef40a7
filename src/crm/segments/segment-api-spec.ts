import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { upsertAndGetSpecs } from '../contract-api-spec';
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

export const segmentApiSpec: RouteSpec[] = [
  ...upsertAndGetSpecs({
    plural: 'segments',
    name: 'Segment',
    putSummary: "Creates or replaces a segment: the tenant's contacts carrying all of its tags (idempotent)",
    getSummary: 'One segment',
    body: segmentFields,
    view: segmentViewSchema,
    conflict: 'the segment belongs to another tenant',
  }),
];
