import { suspendExpiredTrials } from '../crm/tenants/tenant-store';
import type { JobDefinition } from '../scheduler/job';

const BATCH_SIZE = 500;

/**
 * Suspends tenants whose trial has ended. Idempotent: only tenants still in 'trial' with an end
 * in the past (on the database's clock) are touched, so a re-run or a late tick changes nothing
 * twice, and a missed tick is caught up by the next one.
 */
export function createTrialExpirationJob(options: { schedule: string }): JobDefinition {
  return {
    name: 'trial-expiration',
    healthKey: 'trialExpiration',
    schedule: options.schedule,
    description: 'Suspends tenants whose trial has ended',
    async run({ db, logger, signal }) {
      let suspended = 0;
      for (;;) {
        signal.throwIfAborted();
        const ids = await suspendExpiredTrials(db, BATCH_SIZE);
        suspended += ids.length;
        if (ids.length > 0) logger.info('trial tenants suspended', { tenants: ids });
        if (ids.length < BATCH_SIZE) break;
      }
      return { items: suspended };
    },
  };
}
