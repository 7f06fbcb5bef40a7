import type { Config } from '../config/config';
import type { JobDefinition } from '../scheduler/job';
import { createCallCleanupJob } from './call-cleanup';
import { createTrialExpirationJob } from './trial-expiration';

/**
 * The jobs this build runs. The campaign, lead-reminder and call-scheduler crons of the design
 * are not registered until their handlers exist: an empty handler reporting success would lie.
 */
export function buildJobs(config: Config): JobDefinition[] {
  const schedules = config.scheduler.schedules;
  return [
    createTrialExpirationJob({ schedule: schedules['trial-expiration'] }),
    createCallCleanupJob({
      schedule: schedules['call-cleanup'],
      retentionDays: config.callCleanup.retentionDays,
      batchSize: config.callCleanup.batchSize,
    }),
  ];
}
