import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { MAX_BATCH_ITEMS } from './contact-routes';
import { contactFields, contactWithId, entityId } from './contact-schema';

const instant = z.string().describe('ISO 8601 with offset');
const fieldProblem = z.object({ field: z.string(), message: z.string() });

/** What GET/PUT /v1/contacts/:id answer (contact-view.ts). */
export const contactViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  name: z.string().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  whatsapp: z.string().nullable(),
  timezone: z.string().nullable(),
  tags: z.array(z.string()),
  attributes: z.record(z.string(), z.unknown()),
  consent: z.record(z.string(), z.boolean()),
  createdAt: instant,
  updatedAt: instant,
});
const upsertOutcome = z.enum(['created', 'updated', 'unchanged']);

const batchResult = z.union([
  z.strictObject({ index: z.number().int(), id: z.string(), outcome: upsertOutcome }),
  z.strictObject({ index: z.number().int(), id: z.string().optional(), outcome: z.literal('failed'), errors: z.array(fieldProblem) }),
]);

const importReport = z.strictObject({
  imported: z.number().int(),
  created: z.number().int(),
  updated: z.number().int(),
  unchanged: z.number().int(),
  failed: z.number().int(),
  errors: z.array(z.strictObject({ line: z.number().int(), errors: z.array(fieldProblem) })),
  errorsTruncated: z.boolean(),
});

const idParam = { id: entityId };
const invalid = { description: 'invalid input: the problem names each field', problem: true };

export const contactApiSpec: RouteSpec[] = [
  {
    method: 'put',
    path: '/v1/contacts/{id}',
    operationId: 'upsertContact',
    tag: 'contacts',
    summary: 'Creates or replaces a contact (idempotent: the same PUT twice leaves one identical row)',
    params: idParam,
    body: { 'application/json': contactFields },
    responses: {
      200: { description: 'updated or unchanged', schema: contactViewSchema.extend({ outcome: upsertOutcome }) },
      201: { description: 'created', schema: contactViewSchema.extend({ outcome: upsertOutcome }) },
      400: invalid,
      409: { description: 'the contact belongs to another tenant', problem: true },
    },
  },
  {
    method: 'get',
    path: '/v1/contacts/{id}',
    operationId: 'getContact',
    tag: 'contacts',
    summary: 'One contact',
    params: idParam,
    responses: { 200: { description: 'the contact', schema: contactViewSchema }, 400: invalid, 404: { description: 'unknown contact', problem: true } },
  },
  {
    method: 'delete',
    path: '/v1/contacts/{id}',
    operationId: 'deleteContact',
    tag: 'contacts',
    summary: 'Deletes a contact and cancels the messages scheduled for it (same transaction)',
    params: idParam,
    responses: {
      200: {
        description: 'deleted',
        schema: z.strictObject({ id: z.string(), deleted: z.literal(true), messagesCancelled: z.number().int(), callsCancelled: z.number().int() }),
      },
      400: invalid,
      404: { description: 'unknown contact', problem: true },
    },
  },
  {
    method: 'post',
    path: '/v1/contacts/batch',
    operationId: 'upsertContactBatch',
    tag: 'contacts',
    summary: `Upserts up to ${MAX_BATCH_ITEMS} contacts, with a result per item (not all-or-nothing)`,
    body: { 'application/json': z.strictObject({ contacts: z.array(contactWithId).min(1).max(MAX_BATCH_ITEMS) }) },
    responses: {
      200: {
        description: 'what happened to each item',
        schema: z.strictObject({
          created: z.number().int(),
          updated: z.number().int(),
          unchanged: z.number().int(),
          failed: z.number().int(),
          results: z.array(batchResult),
        }),
      },
      400: invalid,
    },
  },
  {
    method: 'post',
    path: '/v1/contacts/import',
    operationId: 'importContacts',
    tag: 'contacts',
    summary: 'Streams any number of contacts as NDJSON (one contact a line) or CSV (a header first); a malformed line is reported by number',
    body: { 'application/x-ndjson': undefined, 'text/csv': undefined },
    responses: {
      200: { description: 'counts and the failed lines', schema: importReport },
      400: { description: 'an unknown CSV column', problem: true },
      415: { description: 'another content type', problem: true },
    },
  },
];
