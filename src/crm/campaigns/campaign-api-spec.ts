import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { pageSchema } from '../../http/pagination';
import { entityId } from '../contacts/contact-schema';
import { campaignListQuery } from './campaign-routes';
import { CAMPAIGN_STATUSES, campaignFields } from './campaign-schema';

const instant = z.string().describe('ISO 8601 with offset');
const count = z.number().int();

/** What the /v1/campaigns routes answer (campaign-view.ts). */
export const campaignViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  name: z.string(),
  channel: z.enum(['email', 'whatsapp']),
  subject: z.string().nullable(),
  template: z.string(),
  sendAt: instant,
  listId: z.string().nullable(),
  segmentId: z.string().nullable(),
  status: z.enum(CAMPAIGN_STATUSES),
  targeted: count.describe('the audience size when sending started, final once expanded'),
  queued: count,
  sent: count,
  failed: count,
  skipped: count.describe('opted out, no address, or skipped at send time'),
  cancelled: count,
  expandedAt: instant.nullable(),
  startedAt: instant.nullable(),
  completedAt: instant.nullable(),
  createdAt: instant,
  updatedAt: instant,
});

const invalid = { description: 'invalid input: the problem names each field', problem: true };
const params = { id: entityId };
const action = (name: 'pause' | 'resume' | 'cancel', summary: string, conflict: string): RouteSpec => ({
  method: 'post',
  path: `/v1/campaigns/{id}/${name}`,
  operationId: `${name}Campaign`,
  tag: 'campaigns',
  summary,
  params,
  responses: {
    200: { description: 'the campaign after the change', schema: campaignViewSchema },
    400: { description: 'a body was sent (this route takes none) or the id is malformed', problem: true },
    404: { description: 'unknown campaign', problem: true },
    409: { description: conflict, problem: true },
  },
});

export const campaignApiSpec: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/campaigns',
    operationId: 'createCampaign',
    tag: 'campaigns',
    summary: "Creates a campaign to a tenant's list or segment; its template is checked now, its messages are written when sendAt comes",
    body: { 'application/json': campaignFields },
    responses: {
      201: { description: 'created', schema: campaignViewSchema },
      400: { description: 'invalid input (a template that does not render included): the problem names each field', problem: true },
      404: { description: 'the listId or segmentId is not a list or segment of this tenant (named in errors)', problem: true },
    },
  },
  {
    method: 'get',
    path: '/v1/campaigns',
    operationId: 'listCampaigns',
    tag: 'campaigns',
    summary: "A tenant's campaigns in id order, a page at a time (pass nextCursor back as cursor)",
    query: campaignListQuery,
    responses: { 200: { description: 'one page', schema: pageSchema(campaignViewSchema) }, 400: invalid },
  },
  {
    method: 'get',
    path: '/v1/campaigns/{id}',
    operationId: 'getCampaign',
    tag: 'campaigns',
    summary: 'One campaign with its delivery counts',
    params,
    responses: { 200: { description: 'the campaign', schema: campaignViewSchema }, 400: invalid, 404: { description: 'unknown campaign', problem: true } },
  },
  action('pause', 'Pauses a scheduled or sending campaign at the next batch boundary', 'the campaign is not scheduled or sending'),
  action('resume', 'Resumes a paused campaign (sending if it had started, else scheduled)', 'the campaign is not paused'),
  action('cancel', 'Cancels a campaign and its messages not yet picked up for sending', 'the campaign is already sent, failed or cancelled'),
];
