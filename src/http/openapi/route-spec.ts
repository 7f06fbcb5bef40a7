import type { z } from 'zod';

/**
 * What one /api route promises, declared beside the route from the same zod schemas that validate
 * its input: the OpenAPI document is generated from these (openapi-document.ts), and the tests
 * check every real response against it. A route under /api/v1 without a spec fails the tests.
 */
export interface RouteSpec {
  method: 'get' | 'put' | 'post' | 'patch' | 'delete';
  /** Under /api, in OpenAPI form: /v1/contacts/{id}. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Path parameters, by name. */
  params?: Record<string, z.ZodType>;
  /** Query parameters, as one zod object (each property one parameter). */
  query?: z.ZodObject;
  /** Request bodies by media type; a media type without a schema is documented as a string. */
  body?: Record<string, z.ZodType | undefined>;
  /** Responses by status. Error answers are problem details (application/problem+json). */
  responses: Record<number, { description: string; schema?: z.ZodType; problem?: boolean }>;
}
