import { z } from 'zod';
import { entityId } from '../contacts/contact-schema';

/** Members per PUT /v1/lists/:id/members; the body must also fit the API's 1 MB limit. */
export const MAX_LIST_MEMBERS = 10_000;

const name = z.string({ message: 'must be a string' }).trim().min(1, { message: 'must not be empty' }).max(500, { message: 'must be at most 500 characters' });

/** A static list as the CRM sends it (docs/data-contract.md): a full replacement. */
export const listFields = z.strictObject({ tenantId: entityId, name });
export type ListBody = z.infer<typeof listFields>;

/**
 * The whole membership of a list: PUT replaces it, so sending the CRM's current list again is
 * idempotent and a contact left out is removed. An id may appear once.
 */
export const listMembersFields = z.strictObject({
  contactIds: z
    .array(entityId, { message: 'must be a list of contact ids' })
    .max(MAX_LIST_MEMBERS, { message: `must hold at most ${MAX_LIST_MEMBERS} contact ids` })
    .superRefine((ids, ctx) => {
      const first = new Map<string, number>();
      ids.forEach((id, i) => {
        const seen = first.get(id);
        if (seen === undefined) first.set(id, i);
        else ctx.addIssue({ code: 'custom', path: [i], message: `repeats contactIds[${seen}]` });
      });
    }),
});

export interface ListInput {
  id: string;
  tenantId: string;
  name: string;
}

export function toListInput(id: string, body: ListBody): ListInput {
  return { id, tenantId: body.tenantId, name: body.name };
}
