import { z } from 'zod';
import { entityId } from '../contacts/contact-schema';

const tag = z.string({ message: 'must be a string' }).trim().min(1, { message: 'must not be empty' }).max(100, { message: 'must be at most 100 characters' });

/**
 * A dynamic segment as the CRM sends it (docs/data-contract.md): the tenant's contacts carrying
 * every one of `tags`, evaluated when a campaign expands. A full replacement.
 */
export const segmentFields = z.strictObject({
  tenantId: entityId,
  name: z.string({ message: 'must be a string' }).trim().min(1, { message: 'must not be empty' }).max(500, { message: 'must be at most 500 characters' }),
  tags: z
    .array(tag, { message: 'must be a list of strings' })
    // An empty segment would match every contact of the tenant: a campaign to all is a list.
    .min(1, { message: 'must hold at least one tag' })
    .max(100, { message: 'must hold at most 100 tags' }),
});
export type SegmentBody = z.infer<typeof segmentFields>;

export interface SegmentInput {
  id: string;
  tenantId: string;
  name: string;
  tags: string[];
}

export function toSegmentInput(id: string, body: SegmentBody): SegmentInput {
  // "All of these tags" is a set: a repeated tag says nothing more, and dropping it keeps the
  // same segment sent twice (with or without the repeat) unchanged.
  return { id, tenantId: body.tenantId, name: body.name, tags: [...new Set(body.tags)] };
}
