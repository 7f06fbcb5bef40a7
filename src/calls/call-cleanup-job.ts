import { deleteFinishedCalls } from '../calls/call-store';
import type { JobDefinition } from '../scheduler/job';

/**
 * Removes finished call records older than the retention window, in batches so one run never
 * holds a long transaction over the calls table. Calls still queued or in progress stay.
 */
export function createCallCleanupJob(options: { schedule: string; retentionDays: number; batchSize: number }): JobDefinition {
  return {
    name: 'call-cleanup',
    healthKey: 'callCleanup',
    schedule: options.schedule,
    description: `Removes finished call records older than ${options.retentionDays} days`,
    async run({ db, logger, signal }) {
      let removed = 0;
      for (;;) {
        // Checked between batches: a lost lease or a shutdown stops the job at a batch boundary.
        signal.throwIfAborted();
        const batch = await deleteFinishedCalls(db, options.retentionDays, options.batchSize);
        removed += batch;
        if (batch < options.batchSize) break;
      }
      if (removed > 0) logger.info('old call records removed', { removed });
      return { items: removed };
    },
  };
}
