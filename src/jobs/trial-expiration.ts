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
        const batch = await db.query<{ id: string }>(
          `UPDATE tenants
              SET status = 'suspended', suspended_at = now(), suspension_reason = 'trial expired', updated_at = now()
            WHERE id IN (SELECT id FROM tenants
                          WHERE status = 'trial' AND trial_ends_at <= now()
                          ORDER BY trial_ends_at
                          LIMIT $1
                          FOR UPDATE SKIP LOCKED)
            RETURNING id`,
          [BATCH_SIZE],
        );
        suspended += batch.rowCount;
        if (batch.rowCount > 0) logger.info('trial tenants suspended', { tenants: batch.rows.map((r) => r.id) });
        if (batch.rowCount < BATCH_SIZE) break;
      }
      return { items: suspended };
    },
  };
}
