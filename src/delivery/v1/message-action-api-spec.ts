import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { messageViewSchema } from './message-api-spec';
import { markSentBody, redriveBody, rescheduleBody, resolveBody, responseBody } from './message-action-routes';

const invalid = { description: 'invalid input: the problem names each field', problem: true };
const unknownMessage = { description: 'unknown message', problem: true };
const idParams = { id: z.string().regex(/^\d{1,18}$/) };
const refused = (what: string) => ({ description: `the message's status does not allow ${what} (the problem names it)`, problem: true });

/** The steps on scheduled messages (message-action-routes.ts). */
export const messageActionApiSpec: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/messages/reschedule',
    operationId: 'rescheduleMessage',
    tag: 'messages',
    summary: 'Moves a message not yet being sent (scheduled or claimed) to a new time, by its key',
    body: { 'application/json': rescheduleBody },
    responses: {
      200: { description: 'the message at its new time', schema: messageViewSchema },
      400: invalid,
      404: { description: 'no message with this key for the tenant', problem: true },
      409: refused('moving it (already sending, sent, cancelled, ...)'),
    },
  },
  {
    method: 'post',
    path: '/v1/messages/redrive',
    operationId: 'redriveMessages',
    tag: 'messages',
    summary: "Sends a tenant's dead (or failed) messages again from scratch: attempts reset, due now",
    body: { 'application/json': redriveBody },
    responses: { 200: { description: 'how many were redriven', schema: z.strictObject({ redriven: z.number().int() }) }, 400: invalid },
  },
  {
    method: 'post',
    path: '/v1/messages/{id}/response',
    operationId: 'recordMessageResponse',
    tag: 'messages',
    summary: "Records the contact's reply to a message; stop-on-reply messages, sequences and reminders of the contact see it",
    params: idParams,
    body: { 'application/json': responseBody },
    responses: { 200: { description: 'the message with its response', schema: messageViewSchema }, 400: invalid, 404: unknownMessage },
  },
  {
    method: 'post',
    path: '/v1/messages/{id}/mark-sent',
    operationId: 'markMessageSent',
    tag: 'messages',
    summary: 'Marks a message sent by someone else, so the worker does not send it; a recurring one gets its next occurrence',
    params: idParams,
    body: { 'application/json': markSentBody },
    responses: {
      200: { description: 'the message, sent', schema: messageViewSchema },
      400: invalid,
      404: unknownMessage,
      409: refused('marking it sent (only scheduled, claimed or unknown ones)'),
    },
  },
  {
    method: 'post',
    path: '/v1/messages/{id}/resolve',
    operationId: 'resolveUnknownMessage',
    tag: 'messages',
    summary: "An operator's verdict on a message whose outcome is unknown: sent, failed, or resend (send it now)",
    params: idParams,
    body: { 'application/json': resolveBody },
    responses: {
      200: { description: 'the message after the verdict', schema: messageViewSchema },
      400: invalid,
      404: unknownMessage,
      409: refused('a verdict (only unknown ones)'),
    },
  },
];
