import { Router } from 'express';
import { Counter } from 'prom-client';
import type { ModuleFactory } from '../modules/worker-module';
import { campaignDashboard } from './campaigns/campaign-dashboard';
import { createCampaignSchedulerJob } from './campaigns/campaign-scheduler-job';
import { dataContractApiSpec, dataContractRoutes } from './contacts/contract-router';
import { createDunningJob } from './dunning/dunning-job';
import { twilioInboundApiSpec } from './inbound/twilio-inbound-api-spec';
import { twilioInboundRoutes } from './inbound/twilio-inbound-routes';
import { crmRoutes } from './http/crm-routes';
import { crmV1ApiSpec, crmV1Routes } from './http/crm-v1-router';
import { createKpiSnapshotJob } from './kpi/kpi-job';
import { createLeadReminderJob } from './lead-reminders/lead-reminder-job';
import { createNurtureJob } from './nurture/nurture-job';

/**
 * The CRM jobs: campaign-scheduler, lead-reminder-scheduler, nurture-sequences,
 * dunning-scheduler and kpi-snapshots (each under lock:<name>, shown in /health, /api/jobs and
 * metrics by the scheduler), plus the /api routes that create campaigns, appointments (whose
 * 24h/3h reminders are scheduled at exact times, not scanned for), enrolments and invoices.
 * Every message goes through the delivery engine's outbox.
 */
export const crmModule: ModuleFactory = ({ config, db, logger, metrics, templates }) => {
  const campaignRecipients = new Counter({
    name: 'crm_worker_campaign_recipients_total',
    help: 'Campaign recipients expanded by this process, by outcome (queued into the outbox, or skipped: opted out / no address).',
    labelNames: ['outcome'] as const,
    registers: metrics.registers,
  });
  const schedules = config.scheduler.schedules;
  return {
    name: 'crm-jobs',
    jobs: () => [
      createCampaignSchedulerJob({
        schedule: schedules['campaign-scheduler'],
        batchSize: config.campaigns.batchSize,
        batchDelayMs: config.campaigns.batchDelayMs,
        onBatch: (_id, batch) => {
          campaignRecipients.inc({ outcome: 'queued' }, batch.queued);
          campaignRecipients.inc({ outcome: 'skipped' }, batch.skipped);
        },
      }),
      createLeadReminderJob({ schedule: schedules['lead-reminder-scheduler'] }),
      createNurtureJob({ schedule: config.crm.schedules.nurture }),
      createDunningJob({ schedule: config.crm.schedules.dunning, days: config.crm.dunningReminderDays }),
      createKpiSnapshotJob({ schedule: config.crm.schedules.kpiSnapshots }),
    ],
    apiRouter: () =>
      Router().use(
        crmRoutes({ db, dunningReminderDays: config.crm.dunningReminderDays, templates }),
        crmV1Routes({ db, templates }),
        dataContractRoutes({ db, dunningReminderDays: config.crm.dunningReminderDays }),
      ),
    // Twilio's inbound webhook is called by Twilio: signed (X-Twilio-Signature), not keyed.
    publicApiRouter: () =>
      twilioInboundRoutes({
        db,
        logger,
        authToken: config.channels.twilio?.authToken,
        publicBaseUrl: config.inbound.publicBaseUrl,
      }),
    dashboard: () => ({ campaigns: campaignDashboard(db) }),
    apiSpec: () => [...dataContractApiSpec, ...crmV1ApiSpec, ...twilioInboundApiSpec],
  };
};
