import fs from 'node:fs';
import type { Database } from '../../src/db/database';
import { cancelAppointment, createAppointment, moveAppointment } from '../../src/crm/appointments/appointment-reminders';
import { createCampaignSchedulerJob } from '../../src/crm/campaigns/campaign-scheduler-job';
import { getCampaign } from '../../src/crm/campaigns/campaign-store';
import { createDunningJob } from '../../src/crm/dunning/dunning-job';
import { createKpiSnapshotJob } from '../../src/crm/kpi/kpi-job';
import { computeKpiSnapshot } from '../../src/crm/kpi/kpi-snapshots';
import { createLeadReminderJob } from '../../src/crm/lead-reminders/lead-reminder-job';
import { createNurtureJob } from '../../src/crm/nurture/nurture-job';
import { enrollContact } from '../../src/crm/nurture/nurture';
import { runTick, type TickDeps } from '../../src/scheduler/run-tick';
import { openMigratedDatabase, inProcessTickDeps } from '../support/harness';
import { freshPgliteDir } from '../support/pglite-template';
import { addCampaign, addContacts, addTenant, campaignOutbox, contactId } from './crm-fixtures';

/**
 * The embedded default (no DATABASE_URL) runs the same SQL on PGlite: every CRM job and the
 * appointment functions once, on an embedded database with the in-process lock.
 */
describe('CRM jobs on the embedded PGlite database', () => {
  let db: Database;
  let dataDir: string;
  let deps: TickDeps;
  let tick = 0;
  const fire = () => new Date(Date.UTC(2026, 0, 1, 0, 0, tick++));

  beforeAll(async () => {
    dataDir = freshPgliteDir('crmw-crm-pglite-');
    db = await openMigratedDatabase('pglite', dataDir);
    deps = inProcessTickDeps(db, 'pglite-test');
    await addTenant(db, 'emb', { timezone: 'America/New_York' });
    await addContacts(db, 'emb', 40, { listId: 'emb-list', tags: ['vip'] });
    await db.query(`INSERT INTO suppressions (tenant_id, channel, recipient) VALUES ('emb', '*', 'user2@emb.test')`);
  });
  afterAll(async () => {
    await db.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('campaign-scheduler expands a list and a segment exactly once', async () => {
    await addCampaign(db, 'emb-list-campaign', 'emb', { listId: 'emb-list' });
    await db.query(`INSERT INTO segments (id, tenant_id, name, tags) VALUES ('emb-vip', 'emb', 'VIP', ARRAY['vip'])`);
    await addCampaign(db, 'emb-segment-campaign', 'emb', { segmentId: 'emb-vip' });
    const job = createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 9, batchDelayMs: 0 });
    expect(await runTick(deps, job, fire())).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 78 }));
    expect(await getCampaign(db, 'emb-list-campaign')).toEqual(expect.objectContaining({ queued: 39, skipped: 1, targeted: 40 }));
    expect(await campaignOutbox(db, 'emb-list-campaign')).toEqual({ rows: 39, distinctContacts: 39 });
    expect(await campaignOutbox(db, 'emb-segment-campaign')).toEqual({ rows: 39, distinctContacts: 39 });
  });

  it('lead reminders, nurture, dunning and KPI snapshots run', async () => {
    await db.query(`INSERT INTO lead_reminder_settings (tenant_id, no_reply_minutes, template) VALUES ('emb', 60, 'Hi {{ contact.name }}')`);
    await db.query(`INSERT INTO leads (id, tenant_id, contact_id, created_at) VALUES ('emb-lead', 'emb', $1, now() - interval '2 hours')`, [
      contactId('emb', 1),
    ]);
    expect(await runTick(deps, createLeadReminderJob({ schedule: '0 0 * * * *' }), fire())).toEqual(
      expect.objectContaining({ outcome: 'succeeded', items: 1 }),
    );

    await db.query(`INSERT INTO nurture_sequences (id, tenant_id, name, channel) VALUES ('emb-seq', 'emb', 'S', 'email')`);
    await db.query(`INSERT INTO nurture_steps (sequence_id, step_no, delay_minutes, template) VALUES ('emb-seq', 1, 10, 'Hi')`);
    await enrollContact(db, { sequenceId: 'emb-seq', contactId: contactId('emb', 1), leadId: 'emb-lead' });
    await db.query(`UPDATE leads SET status = 'converted' WHERE id = 'emb-lead'`);
    expect(await runTick(deps, createNurtureJob({ schedule: '0 * * * * *' }), fire())).toEqual(expect.objectContaining({ outcome: 'succeeded', items: 1 }));

    await db.query(
      `INSERT INTO invoices (id, tenant_id, contact_id, amount_cents, due_at, payment_link) VALUES ('emb-inv', 'emb', $1, 100, now(), 'https://pay.example/e')`,
      [contactId('emb', 3)],
    );
    expect(await runTick(deps, createDunningJob({ schedule: '0 * * * * *', days: [1, 2] }), fire())).toEqual(
      expect.objectContaining({ outcome: 'succeeded', items: 1 }),
    );

    expect(await runTick(deps, createKpiSnapshotJob({ schedule: '0 */15 * * * *' }), fire())).toEqual(
      expect.objectContaining({ outcome: 'succeeded', items: 1 }),
    );
    expect((await computeKpiSnapshot(db, 'emb', '2026-03-08')).timezone).toBe('America/New_York');
  });

  it('appointment reminders are created, moved and cancelled', async () => {
    const startsAt = new Date(Date.now() + 48 * 3_600_000);
    const appointment = await createAppointment(db, { tenantId: 'emb', contactId: contactId('emb', 5), startsAt });
    await moveAppointment(db, appointment.id, new Date(startsAt.getTime() + 3_600_000));
    expect((await cancelAppointment(db, appointment.id)).remindersCancelled).toBe(2);
    const states = await db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM scheduled_messages WHERE idempotency_key LIKE $1 GROUP BY status`,
      [`appt:${appointment.id}:%`],
    );
    expect(states.rows).toEqual([{ status: 'cancelled', n: 4 }]);
  });
});
