import { z } from 'zod';
import type { RouteSpec } from './route-spec';

/** The schema of every error answer under /api/v1 (src/http/problem.ts). */
export const problemSchema = z.object({
  type: z.string().describe('urn:crm-worker:problem:<kind>; branch on this, not on detail'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});

/** The version of /api/v1's contract (info.version): changes only when the API does. */
export const API_VERSION = '1.0.0';

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

/**
 * JSON Schema (2020-12, as OpenAPI 3.1 uses) of a zod schema: request bodies as the caller sends
 * them (`input`), answers as the worker writes them (`output`). Refinements that JSON Schema cannot
 * say (a time zone that exists) are left to the validation itself.
 */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** The OpenAPI 3.1 document of the given routes, served at /api/v1/openapi.json. */
export function buildOpenApiDocument(specs: readonly RouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const pathParameters = Object.entries(spec.params ?? {}).map(([name, schema]) => ({
      name,
      in: 'path',
      required: true,
      schema: jsonSchema(schema, 'input'),
    }));
    const queryShape = (spec.query?.shape ?? {}) as Record<string, z.ZodType>;
    const queryParameters = Object.entries(queryShape).map(([name, schema]) => ({
      name,
      in: 'query',
      required: !schema.safeParse(undefined).success,
      schema: jsonSchema(schema, 'input'),
    }));
    const parameters = [...pathParameters, ...queryParameters];
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(spec.responses)) {
      const content = response.problem
        ? { 'application/problem+json': { schema: PROBLEM_REF } }
        : response.schema
          ? { 'application/json': { schema: jsonSchema(response.schema, 'output') } }
          : undefined;
      responses[status] = { description: response.description, ...(content ? { content } : {}) };
    }
    const body = spec.body
      ? {
          requestBody: {
            required: true,
            content: Object.fromEntries(
              Object.entries(spec.body).map(([type, schema]) => [type, { schema: schema ? jsonSchema(schema, 'input') : { type: 'string' } }]),
            ),
          },
        }
      : {};
    paths[spec.path] ??= {};
    paths[spec.path]![spec.method] = {
      operationId: spec.operationId,
      summary: spec.summary,
      tags: [spec.tag],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...body,
      responses,
    };
  }
  const tags = [...new Set(specs.map((s) => s.tag))].sort().map((name) => ({ name, description: `${name} of the API` }));
  return {
    openapi: '3.1.0',
    info: {
      title: 'crm-worker API',
      version,
      description: 'The versioned HTTP API of crm-worker. Errors are RFC 9457 problem details.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/api', description: 'this worker' }],
    security: [{ apiKey: [] }],
    tags,
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'API_KEY of the worker' } },
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
    },
  };
}
