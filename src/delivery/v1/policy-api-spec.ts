import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { pageSchema } from '../../http/pagination';
import { CAP_MODES, CAPPED_CLASSES, QUIET_HOURS_CHANNELS, QUIET_HOURS_MODES } from '../policy-store';
import { frequencyCapBody, frequencyCapKeyQuery, frequencyCapListQuery, quietHoursBody, quietHoursKeyQuery, quietHoursListQuery } from './policy-routes';

const invalid = { description: 'invalid input (an unknown tenant included): the problem names each field', problem: true };

/** One quiet-hours window as /v1 answers it (policy-store.ts QuietHoursView). */
export const quietHoursViewSchema = z.strictObject({
  tenantId: z.string(),
  channel: z.enum(QUIET_HOURS_CHANNELS),
  appliesTo: z.string(),
  starts: z.string().describe('HH:MM or HH:MM:SS'),
  ends: z.string().describe('HH:MM or HH:MM:SS'),
  mode: z.enum(QUIET_HOURS_MODES),
  updatedAt: z.string().describe('ISO 8601 with offset'),
});

/** One frequency cap as /v1 answers it (policy-store.ts FrequencyCapView). */
export const frequencyCapViewSchema = z.strictObject({
  tenantId: z.string(),
  class: z.enum(CAPPED_CLASSES),
  maxMessages: z.number().int(),
  periodSeconds: z.number().int(),
  mode: z.enum(CAP_MODES),
  updatedAt: z.string().describe('ISO 8601 with offset'),
});

export const policyApiSpec: RouteSpec[] = [
  {
    method: 'put',
    path: '/v1/quiet-hours',
    operationId: 'putQuietHours',
    tag: 'delivery policies',
    summary: "Sets a tenant's daily quiet hours for a channel ('*' for all), or an override for a message type or campaign",
    body: { 'application/json': quietHoursBody },
    responses: {
      200: { description: 'replaced', schema: quietHoursViewSchema },
      201: { description: 'added', schema: quietHoursViewSchema },
      400: invalid,
    },
  },
  {
    method: 'delete',
    path: '/v1/quiet-hours',
    operationId: 'deleteQuietHours',
    tag: 'delivery policies',
    summary: 'Removes one quiet-hours window',
    query: quietHoursKeyQuery,
    responses: { 204: { description: 'removed' }, 400: invalid, 404: { description: 'there was no such window', problem: true } },
  },
  {
    method: 'get',
    path: '/v1/quiet-hours',
    operationId: 'listQuietHours',
    tag: 'delivery policies',
    summary: "A tenant's quiet-hours windows in (channel, appliesTo) order, a page at a time",
    query: quietHoursListQuery,
    responses: { 200: { description: 'one page', schema: pageSchema(quietHoursViewSchema) }, 400: invalid },
  },
  {
    method: 'put',
    path: '/v1/frequency-caps',
    operationId: 'putFrequencyCap',
    tag: 'delivery policies',
    summary: 'Caps the messages of a class per contact and rolling period, across channels and sources',
    body: { 'application/json': frequencyCapBody },
    responses: {
      200: { description: 'replaced', schema: frequencyCapViewSchema },
      201: { description: 'added', schema: frequencyCapViewSchema },
      400: invalid,
    },
  },
  {
    method: 'delete',
    path: '/v1/frequency-caps',
    operationId: 'deleteFrequencyCap',
    tag: 'delivery policies',
    summary: 'Removes the cap of one class',
    query: frequencyCapKeyQuery,
    responses: { 204: { description: 'removed' }, 400: invalid, 404: { description: 'there was no such cap', problem: true } },
  },
  {
    method: 'get',
    path: '/v1/frequency-caps',
    operationId: 'listFrequencyCaps',
    tag: 'delivery policies',
    summary: "A tenant's frequency caps (at most one per class: a single page)",
    query: frequencyCapListQuery,
    responses: { 200: { description: 'the caps', schema: pageSchema(frequencyCapViewSchema) }, 400: invalid },
  },
];
