import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { upsertAndGetSpecs } from '../contract-api-spec';
import { entityId } from '../contacts/contact-schema';
import { listFields, listMembersFields, MAX_LIST_MEMBERS } from './list-schema';

const instant = z.string().describe('ISO 8601 with offset');

/** What GET/PUT /v1/lists/:id answer (list-view.ts). */
export const listViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  name: z.string(),
  memberCount: z.number().int(),
  createdAt: instant,
  updatedAt: instant,
});

export const listApiSpec: RouteSpec[] = [
  ...upsertAndGetSpecs({
    plural: 'lists',
    name: 'List',
    putSummary: 'Creates or replaces a static contact list (idempotent); its members are set apart',
    getSummary: 'One list, with its number of members',
    body: listFields,
    view: listViewSchema,
    conflict: 'the list belongs to another tenant',
  }),
  {
    method: 'put',
    path: '/v1/lists/{id}/members',
    operationId: 'replaceListMembers',
    tag: 'lists',
    summary: `Replaces the list's whole membership with these contacts of its tenant (up to ${MAX_LIST_MEMBERS}; idempotent)`,
    params: { id: entityId },
    body: { 'application/json': listMembersFields },
    responses: {
      200: {
        description: 'what changed',
        schema: z.strictObject({
          listId: z.string(),
          outcome: z.enum(['updated', 'unchanged']),
          added: z.number().int(),
          removed: z.number().int(),
          members: z.number().int(),
        }),
      },
      400: { description: "invalid input, or ids that are not contacts of the list's tenant (each named)", problem: true },
      404: { description: 'unknown list', problem: true },
    },
  },
];
