import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { pageSchema } from '../../http/pagination';
import { SUPPRESSION_CHANNELS, SUPPRESSION_SOURCES } from '../suppression-store';
import { suppressionBody, suppressionKeyQuery, suppressionListQuery } from './suppression-routes';

const invalid = { description: 'invalid input (an unknown tenant included): the problem names each field', problem: true };

/** One opt-out as /v1 answers it (suppression-store.ts SuppressionView). */
export const suppressionViewSchema = z.strictObject({
  tenantId: z.string(),
  channel: z.enum(SUPPRESSION_CHANNELS),
  recipient: z.string(),
  reason: z.string().nullable(),
  source: z.enum(SUPPRESSION_SOURCES).describe('the door of the latest opt-out: the API, an inbound STOP, a one-click e-mail unsubscribe'),
  createdAt: z.string().describe('ISO 8601 with offset'),
  updatedAt: z.string().describe('when the latest opt-out of this key was set; ISO 8601 with offset'),
});

export const suppressionApiSpec: RouteSpec[] = [
  {
    method: 'put',
    path: '/v1/suppressions',
    operationId: 'putSuppression',
    tag: 'suppressions',
    summary: "Opts a recipient out of a channel ('*' for all) for a tenant; their messages are skipped from then on",
    body: { 'application/json': suppressionBody },
    responses: {
      200: { description: 'it was there: its reason replaced', schema: suppressionViewSchema },
      201: { description: 'added', schema: suppressionViewSchema },
      400: invalid,
    },
  },
  {
    method: 'delete',
    path: '/v1/suppressions',
    operationId: 'deleteSuppression',
    tag: 'suppressions',
    summary: 'Lifts one opt-out',
    query: suppressionKeyQuery,
    responses: { 204: { description: 'lifted' }, 400: invalid, 404: { description: 'there was no such opt-out', problem: true } },
  },
  {
    method: 'get',
    path: '/v1/suppressions',
    operationId: 'listSuppressions',
    tag: 'suppressions',
    summary: "A tenant's opt-outs in (channel, recipient) order, a page at a time (pass nextCursor back as cursor)",
    query: suppressionListQuery,
    responses: { 200: { description: 'one page', schema: pageSchema(suppressionViewSchema) }, 400: invalid },
  },
];
