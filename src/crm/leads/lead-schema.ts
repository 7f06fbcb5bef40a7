import { z } from 'zod';
import { entityId } from '../contacts/contact-schema';

export const LEAD_STATUSES = ['open', 'converted', 'lost'] as const;
export type LeadStatus = (typeof LEAD_STATUSES)[number];

/**
 * A lead as the CRM sends it (docs/data-contract.md). Every field is required: a PUT is a full
 * replacement, and a default status would silently reopen a converted lead. Replies are not a
 * lead field: they enter through the one door for replies (POST /api/contacts/:id/replies), which
 * also stops the contact's stop-on-reply messages; a lastReplyAt written here would not.
 */
export const leadFields = z.strictObject({
  tenantId: entityId,
  contactId: entityId,
  status: z.enum(LEAD_STATUSES, { message: `must be one of ${LEAD_STATUSES.join(', ')}` }),
});
export type LeadBody = z.infer<typeof leadFields>;

export interface LeadInput {
  id: string;
  tenantId: string;
  contactId: string;
  status: LeadStatus;
}

export function toLeadInput(id: string, body: LeadBody): LeadInput {
  return { id, tenantId: body.tenantId, contactId: body.contactId, status: body.status };
}
