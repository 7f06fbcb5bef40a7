import type { ModuleFactory } from '../modules/worker-module';
import { createTrialExpirationJob } from './trial-expiration';

/**
 * The core jobs: those of no capability of their own (today trial expiration, which suspends
 * tenants whose trial has ended). Call cleanup belongs to the calls module, beside the calls
 * table it trims.
 */
export const coreJobsModule: ModuleFactory = ({ config }) => ({
  name: 'core-jobs',
  jobs: () => [createTrialExpirationJob({ schedule: config.scheduler.schedules['trial-expiration'] })],
});
