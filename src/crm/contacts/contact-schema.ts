import { z } from 'zod';
import { isValidTimeZone } from '../../calls/business-hours';

/**
 * A contact as the CRM sends it (docs/data-contract.md). PUT is a full replacement: a field left
 * out is stored empty (null, [] or {}), so the CRM's copy and crm-worker's never drift apart.
 */
export const MAX_ID_LENGTH = 200;

export const entityId = z
  .string({ message: 'must be a string' })
  .trim()
  .min(1, { message: 'must not be empty' })
  .max(MAX_ID_LENGTH, { message: `must be at most ${MAX_ID_LENGTH} characters` });

// The shapes the delivery engine accepts at scheduling time (src/delivery/schedule-request.ts and
// the campaign SQL): an address refused here would otherwise be skipped at every send.
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const E164 = /^\+[1-9]\d{6,14}$/;

const email = z
  .string({ message: 'must be a string' })
  .trim()
  .max(320, { message: 'must be at most 320 characters' })
  .regex(EMAIL, { message: 'must be an e-mail address such as ann@example.com' });
const phone = z.string({ message: 'must be a string' }).trim().regex(E164, { message: 'must be a phone number in E.164 form such as +14155550100' });
export const timeZone = z
  .string({ message: 'must be an IANA time zone such as America/New_York' })
  .refine(isValidTimeZone, { message: 'must be an IANA time zone such as America/New_York' });

export const contactFields = z.strictObject({
  tenantId: entityId,
  name: z.string({ message: 'must be a string' }).trim().max(500, { message: 'must be at most 500 characters' }).nullish(),
  email: email.nullish(),
  /** E.164; SMS, and WhatsApp unless `whatsapp` is set. */
  phone: phone.nullish(),
  whatsapp: phone.nullish(),
  timezone: timeZone.nullish(),
  tags: z
    .array(z.string({ message: 'must be a string' }).trim().min(1, { message: 'must not be empty' }).max(100, { message: 'must be at most 100 characters' }), {
      message: 'must be a list of strings',
    })
    .max(100, { message: 'must hold at most 100 tags' })
    .optional(),
  /** Free-form values templates read as contact.<key>. */
  attributes: z
    .record(z.string(), z.unknown(), { message: 'must be an object' })
    .refine((a) => JSON.stringify(a).length <= 16_384, { message: 'must be at most 16384 characters as JSON' })
    .optional(),
  consent: z
    .strictObject(
      {
        email: z.boolean({ message: 'must be true or false' }).optional(),
        sms: z.boolean({ message: 'must be true or false' }).optional(),
        whatsapp: z.boolean({ message: 'must be true or false' }).optional(),
      },
      { message: 'must be an object such as {"email": true, "sms": false}' },
    )
    .optional(),
});

/** A contact with its id, as a line of a bulk import or an item of a batch carries it. */
export const contactWithId = contactFields.extend({ id: entityId });

/** What the store writes: every field present, empties spelled out. */
export interface ContactInput {
  id: string;
  tenantId: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  whatsapp: string | null;
  timezone: string | null;
  tags: string[];
  attributes: Record<string, unknown>;
  consent: { email?: boolean; sms?: boolean; whatsapp?: boolean };
}

export function toContactInput(id: string, body: z.infer<typeof contactFields>): ContactInput {
  return {
    id,
    tenantId: body.tenantId,
    name: body.name || null,
    email: body.email ?? null,
    phone: body.phone ?? null,
    whatsapp: body.whatsapp ?? null,
    timezone: body.timezone ?? null,
    tags: body.tags ?? [],
    attributes: body.attributes ?? {},
    consent: body.consent ?? {},
  };
}
