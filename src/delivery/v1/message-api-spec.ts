import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { pageSchema } from '../../http/pagination';
import { MESSAGE_CLASSES } from '../message-class';
import { MESSAGE_STATUSES } from '../outbox';
import { scheduleRequestSchema } from '../schedule-request';
import { cancelBody, listQuery, MAX_MESSAGES_PER_REQUEST } from './message-routes';

const instant = z.string().describe('ISO 8601 with offset');

/** A message as /v1 answers show it (followup-service.ts MessageView). */
export const messageViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  contactId: z.string().nullable(),
  leadId: z.string().nullable(),
  channel: z.string(),
  recipient: z.string(),
  type: z.string(),
  class: z.enum(MESSAGE_CLASSES),
  status: z.enum(MESSAGE_STATUSES),
  skipReason: z.string().nullable(),
  scheduledAt: instant,
  dueAt: instant,
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  sentAt: instant.nullable(),
  sentBy: z.string().nullable(),
  idempotencyKey: z.string(),
  responseReceivedAt: instant.nullable(),
  responseText: z.string().nullable(),
  recurrenceIntervalSeconds: z.number().int().nullable(),
  nextOccurrenceId: z.string().nullable(),
  resolution: z.string().nullable(),
  heldUntil: z.string().nullable().describe('ISO 8601: when a delivery policy last held it until (quiet hours, a frequency cap)'),
  holdReason: z.enum(['quiet-hours', 'frequency-cap']).nullable(),
});

/** One message as the caller sends it: the time as ISO 8601 with an offset, or a wall time with `timezone`. */
const scheduleItem = scheduleRequestSchema.extend({
  scheduledAt: z.string().describe('ISO 8601 with an offset, or a local time with timezone'),
  timezone: z.string().optional().describe('IANA zone of a scheduledAt without an offset'),
});
const invalid = { description: 'invalid input: the problem names each field', problem: true };

export const messageApiSpec: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/messages',
    operationId: 'scheduleMessages',
    tag: 'messages',
    summary: `Schedules up to ${MAX_MESSAGES_PER_REQUEST} messages, all or none; a repeat of a key with the same request is a duplicate`,
    body: { 'application/json': z.strictObject({ messages: z.array(scheduleItem).min(1).max(MAX_MESSAGES_PER_REQUEST) }) },
    responses: {
      201: { description: 'scheduled', schema: z.strictObject({ scheduled: z.number().int(), duplicates: z.number().int(), ids: z.array(z.string()) }) },
      400: invalid,
      409: { description: 'an idempotency key already used for a different message', problem: true },
    },
  },
  {
    method: 'get',
    path: '/v1/messages',
    operationId: 'listMessages',
    tag: 'messages',
    summary:
      "A tenant's messages in id order, a page at a time (pass nextCursor back as cursor); filtered by status (pending: scheduled,claimed,sending; dead letter: dead), contact or idempotency key",
    query: listQuery,
    responses: {
      200: { description: 'one page', schema: pageSchema(messageViewSchema) },
      400: invalid,
    },
  },
  {
    method: 'get',
    path: '/v1/messages/{id}',
    operationId: 'getMessage',
    tag: 'messages',
    summary: 'One message',
    params: { id: z.string().regex(/^\d{1,18}$/) },
    responses: { 200: { description: 'the message', schema: messageViewSchema }, 400: invalid, 404: { description: 'unknown message', problem: true } },
  },
  {
    method: 'post',
    path: '/v1/messages/cancel',
    operationId: 'cancelMessages',
    tag: 'messages',
    summary: 'Cancels messages (or recurring series) by key that are not yet being sent',
    body: { 'application/json': cancelBody },
    responses: { 200: { description: 'how many were cancelled', schema: z.strictObject({ cancelled: z.number().int() }) }, 400: invalid },
  },
];
