import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { MESSAGE_STATUSES } from '../outbox';
import { leadReportBody } from './delivery-status-routes';

const invalid = { description: 'invalid input: the problem names each field', problem: true };
const count = z.number().int();

const autoFollowUpOutcome = z.union([
  z.strictObject({ triggered: z.literal(true), delaysSeconds: z.array(count), scheduled: count, duplicates: count, ids: z.array(z.string()) }),
  z.strictObject({ triggered: z.literal(false), reason: z.enum(['disabled', 'below_threshold', 'no_schedules']), threshold: z.number() }),
]);
const queueStatus = z.strictObject({
  enabled: z.boolean().describe('whether this worker runs the dispatcher'),
  dueNow: count.describe('scheduled messages due now'),
  scheduledLater: count.describe('scheduled messages due later'),
  byStatus: z.strictObject(Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, count])) as Record<(typeof MESSAGE_STATUSES)[number], typeof count>),
});
const workerHealth = z.strictObject({
  ok: z.boolean(),
  status: z.enum(['running', 'stale', 'unknown']).describe('running: a dispatcher ticked within DELIVERY_HEALTH_STALE_MS; unknown: none ever did'),
  lastTick: z.string().nullable().describe('ISO 8601 with offset'),
  checkedAt: z.string().describe("ISO 8601 with offset, the database's clock"),
});
const databaseAway = { description: 'the database cannot be reached; retry after Retry-After seconds', problem: true };

/** The auto follow-up rule, queue status and worker health (delivery-status-routes.ts). */
export const deliveryStatusApiSpec: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/auto-follow-ups',
    operationId: 'applyAutoFollowUpRule',
    tag: 'auto-follow-ups',
    summary: "Reports a lead's predicted probability: at or above FOLLOWUP_RULE_TOP_P it gets one follow-up per FOLLOWUP_SCHEDULES delay, once per lead",
    body: { 'application/json': leadReportBody },
    responses: { 200: { description: 'what the rule did', schema: autoFollowUpOutcome }, 400: invalid },
  },
  {
    method: 'get',
    path: '/v1/queue',
    operationId: 'getQueueStatus',
    tag: 'queue',
    summary: 'How many messages the outbox holds in each status, and how many scheduled ones are due now',
    responses: { 200: { description: 'the counts', schema: queueStatus }, 400: invalid },
  },
  {
    method: 'get',
    path: '/v1/worker',
    operationId: 'getWorkerHealth',
    tag: 'queue',
    summary: "The dispatchers' liveness from their shared heartbeat (any worker answers for all)",
    responses: { 200: { description: 'the liveness', schema: workerHealth }, 400: invalid, 503: databaseAway },
  },
];
