import type { Queryable } from '../../db/database';
import type { ChannelName } from '../../channels/channel';
import { insertOutboxRows } from './new-rows';
import { wakeUpAfter } from './wakeup';

/** Occurrences of recurring messages passed over by scheduleNextOccurrences, per channel. */
export interface NextOccurrences {
  scheduled: number;
  missed: Array<{ channel: ChannelName; count: number }>;
}

/**
 * Inserts the next occurrence of each sent recurring row that has none yet, with a derived
 * idempotency key (series key + '@r' + its epoch second), so running this twice still yields
 * exactly one.
 *
 * The next occurrence is the first slot of the series (previous time + k intervals, so the series
 * keeps its rhythm and does not drift by send lag) that is after now on the database's clock. A
 * series whose time is long past (scheduled an hour ago every minute, or sent late after retries
 * or an outage) therefore sends once now and then resumes at its next slot: the slots in between
 * are missed, not replayed as a burst, and returned as counts for the metric (like the cron
 * catch-up rule in src/scheduler/missed-ticks.ts).
 */
export async function scheduleNextOccurrences(db: Queryable, ids: readonly string[]): Promise<NextOccurrences> {
  if (ids.length === 0) return { scheduled: 0, missed: [] };
  const result = await db.query<{ linked: string | number; missed: Array<{ channel: ChannelName; count: number }> }>(
    `WITH sent AS (
       SELECT m.*, greatest(1, floor(extract(epoch FROM now() - m.scheduled_at) / m.recurrence_interval_seconds)::bigint + 1) AS step
         FROM scheduled_messages m
        WHERE m.id = ANY($1::bigint[]) AND m.status = 'sent' AND m.recurrence_interval_seconds IS NOT NULL
          AND m.next_occurrence_id IS NULL
     ), planned AS (
       SELECT sent.*, scheduled_at + step * recurrence_interval_seconds * interval '1 second' AS next_at FROM sent
     ), inserted AS (
       ${insertOutboxRows({
         values: {
           tenant_id: 'tenant_id',
           contact_id: 'contact_id',
           lead_id: 'lead_id',
           channel: 'channel',
           recipient: 'recipient',
           scheduled_at: 'next_at',
           due_at: 'next_at',
           template: 'template',
           subject: 'subject',
           variables: 'variables',
           tone: 'tone',
           type: 'type',
           class: 'class',
           personalize: 'personalize',
           context_hints: 'context_hints',
           idempotency_key: `coalesce(series_key, regexp_replace(idempotency_key, '@r[0-9]+$', '')) || '@r'
                || floor(extract(epoch FROM next_at))::bigint::text`,
           skip_if_completed: 'skip_if_completed',
           action_item_id: 'action_item_id',
           stop_on_reply: 'stop_on_reply',
           recurrence_interval_seconds: 'recurrence_interval_seconds',
           previous_occurrence_id: 'id',
           // Every occurrence's send joins the trace the series was scheduled in.
           traceparent: 'traceparent',
         },
         from: 'planned',
         returning: 'id, previous_occurrence_id, due_at',
       })}
     ), linked AS (
       UPDATE scheduled_messages m SET next_occurrence_id = i.id, updated_at = now()
         FROM inserted i WHERE m.id = i.previous_occurrence_id
       RETURNING m.id
     ), woken AS (
       ${wakeUpAfter('inserted', 'earliest-due')}
     )
     SELECT (SELECT count(*) FROM linked) AS linked,
            (SELECT coalesce(json_agg(json_build_object('channel', channel, 'count', n)), '[]'::json)
               FROM (SELECT p.channel, sum(p.step - 1)::int AS n FROM planned p JOIN linked l ON l.id = p.id
                      WHERE p.step > 1 GROUP BY p.channel) per_channel) AS missed,
            (SELECT count(*) FROM woken) AS woken`,
    [ids],
  );
  const row = result.rows[0];
  return { scheduled: Number(row?.linked ?? 0), missed: row?.missed ?? [] };
}
