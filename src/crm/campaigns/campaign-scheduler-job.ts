import type { JobDefinition } from '../../scheduler/job';
import { sleep } from '../../util/deadline';
import { expandCampaignBatch } from './campaign-batch';
import { cancelledIncomplete, cancelOutstandingMessages, expandingCampaigns, refreshDeliveryCounts, startDueCampaigns } from './campaign-store';

export interface CampaignSchedulerOptions {
  schedule: string;
  batchSize: number;
  batchDelayMs: number;
  /** Called after each committed batch (metrics, tests); never throws into the job. */
  onBatch?: (campaignId: string, batch: { queued: number; skipped: number }) => void;
}

/**
 * Due campaigns are expanded into outbox messages, batchSize contacts at a time with
 * batchDelayMs between batches. Campaigns take turns batch by batch, so one large campaign
 * does not hold up a small one. Each batch and its cursor commit together through the fenced
 * database: a crash, SIGTERM or lost lease loses at most the uncommitted batch, which the next
 * tick (on any replica) redoes from the cursor, and unique keys keep every contact at one row.
 * On shutdown it returns at the next batch boundary (JobContext.stopping).
 * A tick runs until nothing is left to expand; the scheduler skips overlapping ticks.
 */
export function createCampaignSchedulerJob(options: CampaignSchedulerOptions): JobDefinition {
  return {
    name: 'campaign-scheduler',
    healthKey: 'campaignScheduler',
    schedule: options.schedule,
    description: `Expands due e-mail/WhatsApp campaigns into the outbox in batches of ${options.batchSize}`,
    async run({ db, logger, signal, stopping }) {
      const started = await startDueCampaigns(db);
      if (started.length > 0) logger.info('campaigns started', { campaigns: started });
      let queued = 0;
      let firstBatch = true;
      for (;;) {
        const campaigns = await expandingCampaigns(db);
        if (campaigns.length === 0) break;
        let progressed = false;
        for (const campaign of campaigns) {
          signal.throwIfAborted();
          if (!firstBatch && options.batchDelayMs > 0) await sleep(options.batchDelayMs, stopping).catch(() => undefined);
          if (stopping.aborted) {
            // Between batches: everything so far is committed with its cursor, and the next tick
            // (here after a restart, or on another replica) goes on from there.
            logger.info('campaign expansion paused: the worker is stopping; the next tick resumes it', { queued });
            return { items: queued };
          }
          firstBatch = false;
          const batch = await db.transaction((tx) => expandCampaignBatch(tx, campaign.id, options.batchSize, campaign.audience));
          if (batch.read === 0 && !batch.finished) continue; // paused or cancelled meanwhile
          progressed = true;
          queued += batch.queued;
          options.onBatch?.(campaign.id, batch);
          logger.debug('campaign batch expanded', { campaign: campaign.id, ...batch });
          if (batch.finished) logger.info('campaign expanded', { campaign: campaign.id });
        }
        if (!progressed) break;
      }
      // A cancel cut short (crash between the status change and the last chunk) is finished here.
      for (const id of await cancelledIncomplete(db)) {
        signal.throwIfAborted();
        const late = await cancelOutstandingMessages(db, id);
        if (late > 0) logger.warn('finished cancelling a campaign', { campaign: id, cancelled: late });
      }
      const completed = await refreshDeliveryCounts(db);
      if (completed > 0) logger.info('campaigns completed', { completed });
      return { items: queued };
    },
  };
}
