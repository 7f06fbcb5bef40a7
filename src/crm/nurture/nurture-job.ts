import type { JobDefinition } from '../../scheduler/job';
import { stopEnrollment } from './nurture';

const BATCH = 200;

/**
 * nurture-sequences: the steps themselves are already in the outbox at their exact times; this
 * job is the safety net for facts the CRM records without calling the API. It stops active
 * enrolments whose contact replied after enrolling or whose lead converted (cancelling their
 * remaining steps) and marks enrolments whose last step is due as completed.
 */
export function createNurtureJob(options: { schedule: string }): JobDefinition {
  return {
    name: 'nurture-sequences',
    healthKey: 'nurtureSequences',
    schedule: options.schedule,
    description: 'Stops nurture sequences on reply or conversion and completes finished ones',
    async run({ db, logger, signal }) {
      let stopped = 0;
      for (;;) {
        signal.throwIfAborted();
        const batch = await db.transaction(async (tx) => {
          const due = await tx.query<{ id: string; reason: 'reply' | 'conversion' }>(
            `WITH active AS (
               SELECT e.id, e.enrolled_at,
                      EXISTS (SELECT 1 FROM leads l WHERE l.contact_id = e.contact_id AND l.last_reply_at > e.enrolled_at)
                        OR EXISTS (SELECT 1 FROM contact_replies cr
                                    WHERE cr.tenant_id = e.tenant_id AND cr.contact_id = e.contact_id AND cr.received_at > e.enrolled_at)
                        AS replied,
                      EXISTS (SELECT 1 FROM leads l WHERE l.id = e.lead_id AND l.status = 'converted') AS converted
                 FROM nurture_enrollments e
                WHERE e.status = 'active'
             )
             SELECT e.id, CASE WHEN a.replied THEN 'reply' ELSE 'conversion' END AS reason
               FROM nurture_enrollments e JOIN active a ON a.id = e.id
              WHERE a.replied OR a.converted
              ORDER BY e.enrolled_at
              LIMIT $1
                FOR UPDATE OF e SKIP LOCKED`,
            [BATCH],
          );
          for (const row of due.rows) await stopEnrollment(tx, row.id, row.reason);
          return due.rows.length;
        });
        stopped += batch;
        if (batch < BATCH) break;
      }
      const completed = await db.query(`UPDATE nurture_enrollments SET status = 'completed' WHERE status = 'active' AND ends_at <= now()`);
      if (stopped + completed.rowCount > 0) logger.info('nurture enrolments updated', { stopped, completed: completed.rowCount });
      return { items: stopped + completed.rowCount };
    },
  };
}
