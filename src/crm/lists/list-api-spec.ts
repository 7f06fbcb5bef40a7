import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
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
const withOutcome = listViewSchema.extend({ outcome: z.enum(['created', 'updated', 'unchanged']) });
const invalid = { description: 'invalid input: the problem names each field', problem: true };

export const listApiSpec: RouteSpec[] = [
  {
    method: 'put', path: '/v1/lists/{id}', operationId: 'upsertList', tag: 'lists',
    summary: 'Creates or replaces a static contact list (idempotent); its members are set apart', params: { id: entityId }, body: { 'application/json': listFields },
    responses: {
      200: { description: 'updated or unchanged', schema: withOutcome },
      201: { description: 'created', schema: withOutcome },
      400: invalid,
      409: { description: 'the list belongs to another tenant', problem: true },
    },
  },
  {
    method: 'get', path: '/v1/lists/{id}', operationId: 'getList', tag: 'lists', summary: 'One list, with its number of members', params: { id: entityId },
    responses: { 200: { description: 'the list', schema: listViewSchema }, 400: invalid, 404: { description: 'unknown list', problem: true } },
  },
  {
    method: 'put', path: '/v1/lists/{id}/members', operationId: 'replaceListMembers', tag: 'lists',
    summary: `Replaces the list's whole membership with these contacts of its tenant (up to ${MAX_LIST_MEMBERS}; idempotent)`,
    params: { id: entityId }, body: { 'application/json': listMembersFields },
    responses: {
      200: {
        description: 'what changed',
        schema: z.strictObject({
          listId: z.string(), outcome: z.enum(['updated', 'unchanged']), added: z.number().int(), removed: z.number().int(), members: z.number().int(),
        }),
      },
      400: { description: "invalid input, or ids that are not contacts of the list's tenant (each named)", problem: true },
      404: { description: 'unknown list', problem: true },
    },
  },
];
