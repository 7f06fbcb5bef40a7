import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { upsertAndGetSpecs } from '../contract-api-spec';
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

export const leadApiSpec: RouteSpec[] = [
  ...upsertAndGetSpecs({
    plural: 'leads',
    name: 'Lead',
    putSummary: 'Creates or replaces a lead (idempotent); its contact must exist in its tenant',
    getSummary: 'One lead',
    body: leadFields,
    view: leadViewSchema,
    conflict: 'the lead belongs to another tenant or another contact',
    invalid: 'invalid input (an unknown tenant or contact included): the problem names each field',
  }),
];
