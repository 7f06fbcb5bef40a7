import type { JobDefinition } from '../../scheduler/job';
import { computeKpiSnapshot, dueSnapshots } from './kpi-snapshots';

const BATCH = 100;

/**
 * kpi-snapshots: runs every 15 minutes (KPI_SNAPSHOT_CRON) and snapshots each organization's
 * previous day once its local clock has passed 01:00, so "daily at 01:00" holds in every time
 * zone with one cron. A missed run is caught up by the next; an upsert per (organization, date)
 * makes a re-run harmless.
 */
export function createKpiSnapshotJob(options: { schedule: string }): JobDefinition {
  return {
    name: 'kpi-snapshots',
    healthKey: 'kpiSnapshots',
    schedule: options.schedule,
    description: 'Daily KPI snapshot per organization after 01:00 in its time zone',
    async run({ db, logger, signal }) {
      let done = 0;
      for (;;) {
        signal.throwIfAborted();
        const due = await dueSnapshots(db, BATCH);
        for (const { tenant_id, date } of due) {
          signal.throwIfAborted();
          await computeKpiSnapshot(db, tenant_id, date);
          done++;
        }
        if (due.length < BATCH) break;
      }
      if (done > 0) logger.info('kpi snapshots written', { snapshots: done });
      return { items: done };
    },
  };
}
