import { z } from 'zod';
import { CHANNEL_NAMES } from './schedule-request';
import { ValidationError, type FieldIssue } from './validation-error';

/**
 * The bodies and queries of the delivery API's routes other than POST /api/followups (see
 * http-bodies.ts). Every object is strict: a field the route does not know is a 400 naming it,
 * never silently dropped (a misspelt `tenantld` on redrive would otherwise redrive every tenant).
 * Values are checked for their type here; what they mean (does the message exist, is the status
 * one that can be redriven) stays with FollowUpService.
 */

const text = (max: number) => z.string({ error: 'must be a string' }).trim().min(1, 'required').max(max);
const key = text(512);
const messageId = z.union([z.string(), z.number()], { error: 'must be a message id' }).transform(String);
/** Time fields stay raw here: parseHttpTime reads them, with the optional timezone. */
const rawTime = z.unknown();

/** Keys belong to a tenant: tenantId names whose key it is (required when two tenants use the same key). */
const tenantId = text(200).optional();
export const cancelBody = z.strictObject({ idempotencyKeys: z.array(key, { error: 'must be a list of idempotency keys' }).max(10_000), tenantId });
export const rescheduleBody = z.strictObject({ idempotencyKey: key, scheduledAt: rawTime, timezone: z.unknown().optional(), tenantId });
export const responseBody = z.strictObject({
  id: messageId.optional(),
  idempotencyKey: key.optional(),
  tenantId,
  text: z.string({ error: 'must be a string' }).max(20_000),
  receivedAt: rawTime.optional(),
});
export const markSentBody = z.strictObject({ idempotencyKey: key, sentBy: text(200).optional(), tenantId });
export const autoFollowUpBody = z.strictObject({
  tenantId: z.unknown(),
  leadId: z.unknown(),
  predProb: z.unknown(),
  recipient: text(2048).optional(),
  channel: z.enum(CHANNEL_NAMES, { error: `must be one of ${CHANNEL_NAMES.join(', ')}` }).optional(),
  contactId: text(200).nullish(),
  variables: z.record(z.string(), z.unknown(), { error: 'must be an object' }).optional(),
});
export const redriveBody = z.strictObject({
  ids: z.array(messageId, { error: 'must be a list of message ids' }).optional(),
  status: z.unknown().optional(),
  tenantId: text(200).optional(),
});
export const resolveBody = z.strictObject({ outcome: z.unknown() });
export const suppressionBody = z.strictObject({
  tenantId: z.unknown(),
  channel: z.unknown(),
  recipient: z.unknown(),
  reason: z.string({ error: 'must be a string' }).max(2000).optional(),
});

const limit = z.string().optional();
export const pendingQuery = z.strictObject({ tenantId: z.string().optional(), limit });
export const byContactQuery = z.strictObject({ tenantId: z.string().optional(), limit });
export const byStatusQuery = z.strictObject({ status: z.string().optional(), tenantId: z.string().optional(), limit });

/** zod's issues as the delivery API's field issues; an unknown key is named by its own path. */
export function fieldIssuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({ field: path ? `${path}.${k}` : k, message: 'unknown field' }));
    }
    return [{ field: path || 'body', message: issue.message }];
  });
}

/** Parses a body or query with its schema, or throws the ValidationError the routes answer with 400. */
export function parseRequestPart<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) throw new ValidationError(fieldIssuesOf(parsed.error));
  return parsed.data;
}
