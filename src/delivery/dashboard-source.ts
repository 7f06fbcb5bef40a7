import type { Queryable } from '../db/database';
import type { DashboardMessages } from '../http/dashboard/dashboard-sources';
import type { FollowUpService } from './followup-service';
import { outboxOverview } from './outbox-overview';

/**
 * The outbox as the operator dashboard sees it: the same FollowUpService calls the /api/v1
 * message routes make (list by status, redrive, resolve), and the whole-outbox overview.
 */
export function deliveryDashboard(service: FollowUpService, db: Queryable): DashboardMessages {
  return {
    overview: () => outboxOverview(db),
    list: (status, limit) => service.listByStatus(status, { limit }),
    get: (id) => service.get({ id }),
    redrive: async (id) => (await service.redrive({ ids: [id], status: 'dead' })) === 1,
    resolve: (id, verdict) => service.resolveUnknown(id, verdict),
  };
}
