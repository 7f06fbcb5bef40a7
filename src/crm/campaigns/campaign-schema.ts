import { z } from 'zod';
import { isoInstant } from '../../util/iso-time';

const id = z.string().trim().min(1, { message: 'must not be empty' }).max(200, { message: 'must be at most 200 characters' });

export const CAMPAIGN_STATUSES = ['scheduled', 'sending', 'sent', 'failed', 'paused', 'cancelled'] as const;

/**
 * A new campaign, as POST /api/campaigns and POST /api/v1/campaigns take it: one audience (a list
 * or a segment of the tenant), a subject for e-mail, and a send time as ISO 8601 with an offset.
 */
export const campaignFields = z
  .object({
    tenantId: id,
    name: z.string().trim().min(1, { message: 'must not be empty' }).max(200),
    channel: z.enum(['email', 'whatsapp'], { message: 'must be email or whatsapp' }),
    subject: z.string().max(998).optional(),
    template: z.string().min(1, { message: 'must not be empty' }).max(100_000, { message: 'must be at most 100000 characters' }),
    sendAt: isoInstant,
    listId: id.optional(),
    segmentId: id.optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if ((v.listId === undefined) === (v.segmentId === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['listId'], message: 'give exactly one of listId or segmentId' });
    }
    if (v.channel === 'email' && !v.subject) ctx.addIssue({ code: 'custom', path: ['subject'], message: 'is required for e-mail' });
  });
export type CampaignFields = z.infer<typeof campaignFields>;
