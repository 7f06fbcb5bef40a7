import type { Queryable } from '../../db/database';
import { scheduleMessages, ValidationError, type ChannelName, type ScheduleRequest } from '../../delivery/outbox';
import type { Logger } from '../../logging/logger';
import type { JobDefinition } from '../../scheduler/job';

const BATCH = 500;

interface IssuedReminder {
  tenant_id: string;
  lead_id: string;
  contact_id: string;
  reminder_no: number;
  silent_since: Date;
  idempotency_key: string;
  channel: ChannelName;
  address: string;
  subject: string | null;
  template: string;
  contact_name: string | null;
  no_reply_minutes: number;
}

/**
 * Issues due lead reminders in one statement per batch. A lead is silent since the later of
 * its creation and its last reply; reminder n is due no_reply_minutes × n after that, for open
 * leads of tenants with follow-ups enabled and an enabled reminder rule. Each reminder is a
 * unique (lead, silent_since, n) row, so it is never issued twice; a reply starts a new silent
 * period. The per-contact cap counts reminders to the contact since its last reply across all
 * its leads; DISTINCT ON (contact) issues at most one per contact per statement, so leads of
 * the same contact cannot overrun the cap together, and a contact silent for several periods
 * gets one reminder per period, not a burst.
 */
async function issueDueReminders(tx: Queryable, limit: number): Promise<IssuedReminder[]> {
  const result = await tx.query<IssuedReminder>(
    `WITH candidates AS (
       SELECT l.id AS lead_id, l.tenant_id, l.contact_id, l.created_at,
              -- A reply counts wherever it was recorded: on the lead by the CRM, or in the
              -- delivery engine's contact_replies (inbound messages).
              greatest(l.created_at, l.last_reply_at,
                       (SELECT max(cr.received_at) FROM contact_replies cr
                         WHERE cr.tenant_id = l.tenant_id AND cr.contact_id = l.contact_id)) AS silent_since,
              s.no_reply_minutes, s.max_reminders_per_contact, s.channel, s.subject, s.template,
              c.name AS contact_name,
              CASE s.channel WHEN 'email' THEN c.email WHEN 'whatsapp' THEN coalesce(c.whatsapp, c.phone) ELSE c.phone END AS address
         FROM leads l
         JOIN tenants t ON t.id = l.tenant_id AND t.followup_enabled AND t.status IN ('trial', 'active')
         JOIN lead_reminder_settings s ON s.tenant_id = l.tenant_id AND s.enabled AND s.max_reminders_per_contact > 0
         JOIN contacts c ON c.id = l.contact_id
        WHERE l.status = 'open'
     ),
     numbered AS (
       SELECT k.*,
              1 + (SELECT count(*) FROM lead_reminders r WHERE r.lead_id = k.lead_id AND r.silent_since = k.silent_since)::int AS reminder_no,
              (SELECT count(*) FROM lead_reminders r
                WHERE r.contact_id = k.contact_id
                  AND r.created_at > greatest(
                        (SELECT max(o.last_reply_at) FROM leads o WHERE o.contact_id = k.contact_id),
                        (SELECT max(cr.received_at) FROM contact_replies cr WHERE cr.tenant_id = k.tenant_id AND cr.contact_id = k.contact_id),
                        '-infinity'))::int
                AS contact_reminders
         FROM candidates k
        WHERE k.address IS NOT NULL AND btrim(k.address) <> ''
     ),
     due AS (
       SELECT DISTINCT ON (contact_id) numbered.*
         FROM numbered
        WHERE now() >= silent_since + make_interval(mins => no_reply_minutes * reminder_no)
          AND contact_reminders < max_reminders_per_contact
          -- Spacing: no contact hears from this rule twice within one no-reply period, even when
          -- it has been silent for several periods or has several leads.
          AND NOT EXISTS (SELECT 1 FROM lead_reminders r
                           WHERE r.contact_id = numbered.contact_id
                             AND r.created_at > now() - make_interval(mins => numbered.no_reply_minutes))
        ORDER BY contact_id, silent_since, lead_id
        LIMIT $1
     ),
     ins AS (
       INSERT INTO lead_reminders (tenant_id, lead_id, contact_id, silent_since, reminder_no, idempotency_key)
       SELECT tenant_id, lead_id, contact_id, silent_since, reminder_no,
              'lead-reminder:' || lead_id || ':' || (extract(epoch FROM silent_since) * 1000)::bigint || ':' || reminder_no
         FROM due
       ON CONFLICT DO NOTHING
       RETURNING lead_id, idempotency_key
     )
     SELECT d.tenant_id, d.lead_id, d.contact_id, d.reminder_no, d.silent_since, ins.idempotency_key, d.channel,
            btrim(d.address) AS address, d.subject, d.template, d.contact_name, d.no_reply_minutes
       FROM ins JOIN due d ON d.lead_id = ins.lead_id`,
    [limit],
  );
  return result.rows;
}

function toRequest(r: IssuedReminder): ScheduleRequest {
  return {
    tenantId: r.tenant_id,
    contactId: r.contact_id,
    leadId: r.lead_id,
    channel: r.channel,
    recipient: r.address,
    scheduledAt: new Date(),
    template: r.template,
    ...(r.subject ? { subject: r.subject } : {}),
    variables: {
      contact: { id: r.contact_id, name: r.contact_name },
      lead: { id: r.lead_id },
      reminderNumber: r.reminder_no,
      silentSince: new Date(r.silent_since).toISOString(),
      hoursWithoutReply: Math.floor((Date.now() - new Date(r.silent_since).getTime()) / 3_600_000),
    },
    type: 'lead-reminder',
    idempotencyKey: r.idempotency_key,
    // A reply arriving before the send makes the reminder pointless.
    stopOnReply: true,
  };
}

/**
 * Schedules the reminders; a tenant's bad template (the delivery engine's ValidationError,
 * thrown before anything is written) must not block every other tenant, so on rejection each
 * reminder is tried alone and the rejected ones keep their row with the error: issued once,
 * never retried, visible to the operator. Returns how many were rejected.
 */
async function scheduleReminders(tx: Queryable, reminders: IssuedReminder[], logger: Logger): Promise<number> {
  try {
    await scheduleMessages(tx, reminders.map(toRequest));
    return 0;
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
  }
  let rejected = 0;
  for (const reminder of reminders) {
    try {
      await scheduleMessages(tx, [toRequest(reminder)]);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      rejected++;
      await tx.query('UPDATE lead_reminders SET error = $2 WHERE idempotency_key = $1', [reminder.idempotency_key, err.message]);
      logger.warn('lead reminder rejected by the delivery engine', { tenant: reminder.tenant_id, lead: reminder.lead_id, error: err.message });
    }
  }
  return rejected;
}

/**
 * lead-reminder-scheduler: every LEAD_REMINDER_INTERVAL minutes, leads silent for their
 * tenant's configured time get a reminder through the delivery engine. The reminder row and
 * its outbox message commit in one fenced transaction per batch.
 */
export function createLeadReminderJob(options: { schedule: string }): JobDefinition {
  return {
    name: 'lead-reminder-scheduler',
    healthKey: 'leadReminderScheduler',
    schedule: options.schedule,
    description: 'Sends reminders for leads without a reply for their tenant-configured time',
    async run({ db, logger, signal }) {
      let issued = 0;
      let rejected = 0;
      for (;;) {
        signal.throwIfAborted();
        const batch = await db.transaction(async (tx) => {
          const reminders = await issueDueReminders(tx, BATCH);
          if (reminders.length > 0) rejected += await scheduleReminders(tx, reminders, logger);
          return reminders.length;
        });
        issued += batch;
        if (batch === 0) break;
      }
      if (issued > 0) logger.info('lead reminders issued', { reminders: issued, rejected });
      return { items: issued };
    },
  };
}
