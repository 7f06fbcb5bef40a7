import type { JobDefinition } from '../../scheduler/job';
import { closeDunning, scheduleDunning, type InvoiceRow } from './dunning';

const BATCH = 200;

/**
 * dunning-scheduler: invoices reach the worker through the API (scheduled at once) or straight
 * into the table from the CRM; this job schedules the reminders of open invoices not yet
 * scheduled, and closes dunning for invoices paid or voided since (cancelling what is left),
 * each batch in one fenced transaction with SKIP LOCKED so the API and the job never collide.
 */
export function createDunningJob(options: { schedule: string; days: readonly number[] }): JobDefinition {
  return {
    name: 'dunning-scheduler',
    healthKey: 'dunningScheduler',
    schedule: options.schedule,
    description: `Schedules payment reminders ${options.days.join(', ')} days after due dates and stops them when paid`,
    async run({ db, logger, signal }) {
      let scheduled = 0;
      let closed = 0;
      for (;;) {
        signal.throwIfAborted();
        const n = await db.transaction(async (tx) => {
          const todo = await tx.query<InvoiceRow>(
            `SELECT * FROM invoices WHERE status = 'open' AND dunning_scheduled_at IS NULL
              ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
            [BATCH],
          );
          for (const invoice of todo.rows) await scheduleDunning(tx, invoice, options.days);
          return todo.rows.length;
        });
        scheduled += n;
        if (n < BATCH) break;
      }
      for (;;) {
        signal.throwIfAborted();
        const n = await db.transaction(async (tx) => {
          const done = await tx.query<{ id: string }>(
            `SELECT id FROM invoices WHERE status IN ('paid', 'void') AND dunning_scheduled_at IS NOT NULL AND dunning_closed_at IS NULL
              ORDER BY paid_at NULLS LAST LIMIT $1 FOR UPDATE SKIP LOCKED`,
            [BATCH],
          );
          for (const { id } of done.rows) await closeDunning(tx, id);
          return done.rows.length;
        });
        closed += n;
        if (n < BATCH) break;
      }
      if (scheduled + closed > 0) logger.info('dunning updated', { scheduled, closed });
      return { items: scheduled + closed };
    },
  };
}
