import { z } from 'zod';
import type { RouteSpec } from '../http/openapi/route-spec';
import { pageSchema } from '../http/pagination';
import { CALL_STATUSES, callOutcomeBody, callSettingsBody, enqueueCallBody, WEEKDAYS } from './call-schemas';
import { callIdParam, callListQuery, tenantIdParam } from './v1-call-routes';

const instant = z.string().describe('ISO 8601 with offset');

/** What the /v1/calls routes answer (v1-call-routes.ts callView). */
export const callViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  contactId: z.string().nullable(),
  phone: z.string().describe('E.164'),
  timezone: z.string().nullable().describe("the contact's zone; the tenant's when null"),
  status: z.enum(CALL_STATUSES),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  notBefore: instant.nullable(),
  nextAttemptAt: instant.nullable(),
  placedAt: instant.nullable(),
  endedAt: instant.nullable(),
  lastOutcome: z.string().nullable(),
  lastError: z.string().nullable(),
  providerCallId: z.string().nullable(),
  createdAt: instant,
});

const interval = z.strictObject({ opens: z.string().describe('HH:mm'), closes: z.string().describe('HH:mm, 24:00 for midnight') });
export const callSettingsViewSchema = z.strictObject({
  tenantId: z.string(),
  hours: z.strictObject(Object.fromEntries(WEEKDAYS.map((d) => [d, z.array(interval)])) as Record<(typeof WEEKDAYS)[number], z.ZodArray<typeof interval>>),
  holidays: z.array(z.string().describe('YYYY-MM-DD')),
  maxAttempts: z.number().int().nullable(),
  retrySpacingSeconds: z.number().int().nullable(),
});

const invalid = { description: 'invalid input: the problem names each field', problem: true };
const notFound = { description: 'unknown call', problem: true };
const params = { id: callIdParam };

export const callApiSpec: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/calls',
    operationId: 'enqueueCall',
    tag: 'calls',
    summary: 'Queues a call; it is placed within the tenant’s calling hours, retried per its policy',
    body: { 'application/json': enqueueCallBody },
    responses: {
      201: { description: 'queued', schema: callViewSchema },
      400: { description: 'invalid input (an unknown tenant included): the problem names each field', problem: true },
    },
  },
  {
    method: 'get',
    path: '/v1/calls',
    operationId: 'listCalls',
    tag: 'calls',
    summary: 'Calls in id order, of one tenant and status when given, a page at a time',
    query: callListQuery,
    responses: { 200: { description: 'one page', schema: pageSchema(callViewSchema) }, 400: invalid },
  },
  {
    method: 'get',
    path: '/v1/calls/{id}',
    operationId: 'getCall',
    tag: 'calls',
    summary: 'One call',
    params,
    responses: { 200: { description: 'the call', schema: callViewSchema }, 400: invalid, 404: notFound },
  },
  {
    method: 'post',
    path: '/v1/calls/{id}/outcome',
    operationId: 'reportCallOutcome',
    tag: 'calls',
    params,
    summary: 'The telephony side reports how the current attempt went; unanswered attempts are retried while attempts remain',
    body: { 'application/json': callOutcomeBody },
    responses: {
      200: { description: 'the call after the report', schema: callViewSchema },
      400: invalid,
      404: notFound,
      409: { description: 'the call is not awaiting this outcome, or the report is about another attempt (named in errors)', problem: true },
    },
  },
  {
    method: 'post',
    path: '/v1/calls/{id}/cancel',
    operationId: 'cancelCall',
    tag: 'calls',
    params,
    summary: 'Withdraws a queued call (one already ringing reports its own outcome)',
    responses: {
      200: { description: 'cancelled', schema: callViewSchema },
      400: { description: 'a body was sent (this route takes none) or the id is malformed', problem: true },
      404: notFound,
      409: { description: 'the call is not queued', problem: true },
    },
  },
  {
    method: 'get',
    path: '/v1/call-settings/{tenantId}',
    operationId: 'getCallSettings',
    tag: 'calls',
    params: { tenantId: tenantIdParam },
    summary: "A tenant's calling hours, holidays and retry policy",
    responses: { 200: { description: 'the settings', schema: callSettingsViewSchema }, 400: invalid, 404: { description: 'unknown tenant', problem: true } },
  },
  {
    method: 'put',
    path: '/v1/call-settings/{tenantId}',
    operationId: 'replaceCallSettings',
    tag: 'calls',
    params: { tenantId: tenantIdParam },
    summary: "Replaces a tenant's calling hours, holidays and retry policy at once",
    body: { 'application/json': callSettingsBody },
    responses: {
      200: { description: 'the settings now', schema: callSettingsViewSchema },
      400: invalid,
      404: { description: 'unknown tenant', problem: true },
    },
  },
];
