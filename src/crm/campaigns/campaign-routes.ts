import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/database';
import type { TemplateEngine } from '../../templates/template-engine';
import { cursorFor, pageFrom, pageQueryFields } from '../../http/pagination';
import { parseOrThrow, ProblemError } from '../../http/problem';
import { assertNoBody } from '../../http/no-body';
import { entityId } from '../contacts/contact-schema';
import { cancelCampaign, getCampaign, listCampaigns, pauseCampaign, resumeCampaign } from './campaign-store';
import { CAMPAIGN_STATUSES, campaignFields } from './campaign-schema';
import { campaignView } from './campaign-view';
import { createCampaign } from './create-campaign';

// Keyset on id: a page never shifts when campaigns are added or change status meanwhile.
const campaignsCursor = cursorFor('campaigns', /^[\w.:-]{1,200}$/);
export const campaignListQuery = z.strictObject({
  tenantId: entityId,
  status: z.enum(CAMPAIGN_STATUSES, { message: `must be one of ${CAMPAIGN_STATUSES.join(', ')}` }).optional(),
  ...pageQueryFields,
});

/**
 * /v1/campaigns: create, read one, a tenant's list a page at a time, pause, resume, cancel. The
 * counts are refreshed by campaign-scheduler every tick; a GET only reads. The unversioned
 * /api/campaigns routes stay for one release.
 */
export function campaignRoutes(deps: { db: Database; templates: TemplateEngine }): Router {
  const { db } = deps;
  const router = Router();

  router.post('/v1/campaigns', async (req, res) => {
    const campaign = await createCampaign(db, deps.templates, parseOrThrow(campaignFields, req.body ?? {}));
    res.status(201).json(campaignView(campaign));
  });

  router.get('/v1/campaigns', async (req, res) => {
    const query = parseOrThrow(campaignListQuery, req.query);
    const afterId = query.cursor === undefined ? undefined : campaignsCursor.decode(query.cursor)[0];
    const rows = await listCampaigns(db, { tenantId: query.tenantId, status: query.status, afterId, limit: query.limit + 1 });
    res.json(pageFrom(rows, query.limit, campaignView, (r) => [r.id], campaignsCursor));
  });

  router.get('/v1/campaigns/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const campaign = await getCampaign(db, id);
    if (!campaign) throw new ProblemError('not-found', `campaign ${id} not found`);
    res.json(campaignView(campaign));
  });

  // Each transition throws NotFoundError (404) or ConflictError naming the states it needs (409).
  const transitions = { pause: pauseCampaign, resume: resumeCampaign, cancel: cancelCampaign };
  for (const [action, transition] of Object.entries(transitions)) {
    router.post(`/v1/campaigns/:id/${action}`, async (req, res) => {
      const id = parseOrThrow(entityId, req.params.id, 'id');
      assertNoBody(req.body);
      res.json(campaignView(await transition(db, id)));
    });
  }
  return router;
}
