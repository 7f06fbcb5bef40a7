/** A cron that fires once a year (00:00:00 on 1 January): in effect, never during a test or bench. */
export const NEVER = '0 0 0 1 1 *';

/**
 * Every CRM cron but the campaign scheduler's moved to NEVER, so that a worker process runs
 * campaign expansion alone (the fault tests and the campaign bench).
 */
export const OTHER_JOBS_THAN_CAMPAIGNS_OFF: Readonly<Record<string, string>> = {
  LEAD_REMINDER_CRON: NEVER,
  NURTURE_CRON: NEVER,
  DUNNING_CRON: NEVER,
  KPI_SNAPSHOT_CRON: NEVER,
  TRIAL_EXPIRATION_CRON: NEVER,
  CALL_CLEANUP_CRON: NEVER,
};
