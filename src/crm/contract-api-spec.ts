import { z } from 'zod';
import type { RouteSpec } from '../http/openapi/route-spec';
import { entityId } from './contacts/contact-schema';

/**
 * The two routes every entity of the data contract has, PUT /v1/<plural>/{id} (an idempotent
 * upsert: 201 created, 200 updated or unchanged, the entity plus `outcome`) and GET
 * /v1/<plural>/{id}, described once: an entity's spec file says only what differs.
 */
export function upsertAndGetSpecs(entity: {
  /** Path segment and tag: 'leads'. */
  plural: string;
  /** In operation ids: 'Lead' → upsertLead, getLead. */
  name: string;
  putSummary: string;
  getSummary: string;
  body: z.ZodType;
  view: z.ZodObject;
  /** When a PUT answers 409, and why. */
  conflict?: string;
  /** The 400's description, when more than the usual fields can be refused. */
  invalid?: string;
}): RouteSpec[] {
  const withOutcome = entity.view.extend({ outcome: z.enum(['created', 'updated', 'unchanged']) });
  const invalid = { description: entity.invalid ?? 'invalid input: the problem names each field', problem: true };
  const path = `/v1/${entity.plural}/{id}`;
  const putResponses: RouteSpec['responses'] = {
    200: { description: 'updated or unchanged', schema: withOutcome },
    201: { description: 'created', schema: withOutcome },
    400: invalid,
  };
  if (entity.conflict) putResponses[409] = { description: entity.conflict, problem: true };
  return [
    {
      method: 'put',
      path,
      operationId: `upsert${entity.name}`,
      tag: entity.plural,
      summary: entity.putSummary,
      params: { id: entityId },
      body: { 'application/json': entity.body },
      responses: putResponses,
    },
    {
      method: 'get',
      path,
      operationId: `get${entity.name}`,
      tag: entity.plural,
      summary: entity.getSummary,
      params: { id: entityId },
      responses: {
        200: { description: `the ${entity.name.toLowerCase()}`, schema: entity.view },
        400: invalid,
        404: { description: `unknown ${entity.name.toLowerCase()}`, problem: true },
      },
    },
  ];
}
