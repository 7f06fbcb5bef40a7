import type { Queryable } from '../../db/database';
import type { CampaignAction, DashboardCampaigns } from '../../http/dashboard/dashboard-sources';
import { campaignsForOperator, cancelCampaign, pauseCampaign, resumeCampaign } from './campaign-store';
import { campaignView } from './campaign-view';

const transitions = { pause: pauseCampaign, resume: resumeCampaign, cancel: cancelCampaign } satisfies Record<CampaignAction, unknown>;

/** Campaigns as the operator dashboard sees them; pause, resume and cancel are the /api/v1 routes' own transitions. */
export function campaignDashboard(db: Queryable): DashboardCampaigns {
  return {
    list: async (limit) => (await campaignsForOperator(db, limit)).map(campaignView),
    act: async (id, action) => campaignView(await transitions[action](db, id)),
  };
}
