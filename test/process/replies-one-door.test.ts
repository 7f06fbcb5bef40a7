import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { NEVER } from '../support/job-env';
import { apiClient, useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'replies-one-door-test-key-0123';
const EVERY_SECOND = '* * * * * *';

/**
 * Issue 10, item 3: one door for replies. A reply recorded through the CRM's contact route and
 * one recorded as a follow-up's response must both reach the record every check reads: the
 * dispatcher's stop-on-reply check (the auto follow-up is skipped with its reason, never sent),
 * the nurture-sequences job and the lead-reminder-scheduler. A real worker process with the
 * nurture and lead-reminder jobs every second, real PostgreSQL and Redis, a webhook sink.
 */
describe('one door for replies', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let sink: WebhookSink;
  const sql = fixture.sql.bind(fixture);
  const api = apiClient(() => worker, API_KEY);
  const message = async (key: string) =>
    (await sql<{ status: string; skip_reason: string | null }>(`SELECT status, skip_reason FROM scheduled_messages WHERE idempotency_key = $1`, [key]))[0];
  const autoKey = (lead: string) => `auto-followup:t1:${lead}:1800s`;

  beforeAll(async () => {
    sink = await startWebhookSink();
    worker = fixture.spawn('replies-door', {
      ...fixture.serviceEnv('replies:'),
      API_KEY,
      WEBHOOK_TARGETS: `crm=${sink.url}`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      FOLLOWUP_SCHEDULES: '30m',
      NURTURE_CRON: EVERY_SECOND,
      LEAD_REMINDER_CRON: EVERY_SECOND,
      CAMPAIGN_CRON: NEVER,
      DUNNING_CRON: NEVER,
      KPI_SNAPSHOT_CRON: NEVER,
      TRIAL_EXPIRATION_CRON: NEVER,
      CALL_CLEANUP_CRON: NEVER,
    });
    await waitUntilStarted(worker);
    await sql(`INSERT INTO tenants (id, name, status, followup_enabled) VALUES ('t1', 'T1', 'active', true)`);
    // Each contact has one open lead that has been silent for two hours.
    await sql(`INSERT INTO contacts (id, tenant_id, name, email)
               SELECT c, 't1', 'Contact ' || c, c || '@t1.test' FROM unnest(ARRAY['c-route', 'c-response', 'c-control']) AS c`);
    await sql(`INSERT INTO leads (id, tenant_id, contact_id, created_at)
               SELECT 'lead-' || substr(c, 3), 't1', c, now() - interval '2 hours' FROM unnest(ARRAY['c-route', 'c-response', 'c-control']) AS c`);
    await sql(`INSERT INTO nurture_sequences (id, tenant_id, name, channel) VALUES ('seq', 't1', 'Seq', 'email')`);
    await sql(`INSERT INTO nurture_steps (sequence_id, step_no, delay_minutes, template) VALUES ('seq', 1, 60, 'Hi'), ('seq', 2, 60, 'Again')`);
  });
  afterAll(async () => {
    await sink?.close();
  });

  /** Enrols the contact in the nurture sequence and gives its lead an auto follow-up (30 min out). */
  const prepare = async (contact: string, lead: string) => {
    const enrolled = await api('POST', '/nurture/enrollments', { sequenceId: 'seq', contactId: contact, leadId: lead });
    expect(enrolled.status).toBe(201);
    // The CRM reports the lead only (no contactId): the reply must still reach the lead's follow-up.
    const auto = await api('POST', '/followups/auto', { tenantId: 't1', leadId: lead, predProb: 0.9 });
    expect(auto.body).toEqual(expect.objectContaining({ triggered: true, scheduled: 1 }));
    return enrolled.body.id as string;
  };

  /** Makes the auto follow-up due now, without touching when it was created. */
  const dueNow = async (lead: string) => {
    const moved = await api('POST', '/followups/reschedule', { tenantId: 't1', idempotencyKey: autoKey(lead), scheduledAt: new Date().toISOString() });
    expect(moved.body).toEqual({ moved: 1 });
  };

  const expectStopped = async (contact: string, lead: string, enrollment: string) => {
    await dueNow(lead);
    await waitFor(`the auto follow-up of ${lead} skipped`, async () => (await message(autoKey(lead)))?.status === 'skipped');
    expect(await message(autoKey(lead))).toEqual({ status: 'skipped', skip_reason: 'contact_replied' });
    expect(sink.requests.filter((r) => r.key === autoKey(lead))).toEqual([]);
    await waitFor(
      `the nurture enrolment of ${contact} stopped`,
      async () => (await sql(`SELECT 1 FROM nurture_enrollments WHERE id = $1 AND status = 'stopped' AND stop_reason = 'reply'`, [enrollment])).length === 1,
    );
    const steps = await sql<{ status: string }>(`SELECT status FROM scheduled_messages WHERE idempotency_key LIKE $1 ORDER BY idempotency_key`, [
      `nurture:${enrollment}:%`,
    ]);
    expect(steps).toEqual([{ status: 'cancelled' }, { status: 'cancelled' }]);
  };

  it('a reply through POST /api/contacts/:id/replies stops the auto follow-up, nurture and lead reminders', async () => {
    const enrollment = await prepare('c-route', 'lead-route');
    const replied = await api('POST', '/contacts/c-route/replies', {});
    expect(replied.status).toBe(200);
    await expectStopped('c-route', 'lead-route', enrollment);
  });

  it('a reply through POST /api/followups/responses does the same', async () => {
    const enrollment = await prepare('c-response', 'lead-response');
    // The CRM's own first touch to the contact, which the contact answers.
    const first = await api('POST', '/followups', {
      tenantId: 't1',
      contactId: 'c-response',
      leadId: 'lead-response',
      channel: 'webhook',
      recipient: 'crm',
      scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
      template: 'First touch',
      idempotencyKey: 'first-touch',
    });
    expect(first.status).toBe(201);
    const response = await api('POST', '/followups/responses', { tenantId: 't1', idempotencyKey: 'first-touch', text: 'Yes, call me' });
    expect(response.status).toBe(200);
    await expectStopped('c-response', 'lead-response', enrollment);
  });

  it('the lead-reminder-scheduler sees both replies: only the silent lead gets a reminder', async () => {
    // A control follow-up that nobody answered is sent: the dispatcher is running.
    await api('POST', '/followups/auto', { tenantId: 't1', leadId: 'lead-control', predProb: 0.9 });
    await dueNow('lead-control');
    await waitFor('the control follow-up sent', async () => (await message(autoKey('lead-control')))?.status === 'sent');

    // Reminders after an hour of silence: the two leads that replied just now are not silent.
    await sql(`INSERT INTO lead_reminder_settings (tenant_id, no_reply_minutes, template, subject) VALUES ('t1', 60, 'Hi {{ contact.name }}', 'Hello')`);
    await waitFor('a reminder for the silent lead', async () => (await sql(`SELECT 1 FROM lead_reminders WHERE lead_id = 'lead-control'`)).length === 1);
    const after = (await sql<{ t: Date }>(`SELECT now() AS t`))[0]!.t;
    await waitFor(
      'another lead-reminder run after that',
      async () => (await sql(`SELECT 1 FROM job_runs WHERE job = 'lead-reminder-scheduler' AND outcome = 'succeeded' AND started_at > $1`, [after])).length > 0,
    );
    expect(await sql(`SELECT lead_id FROM lead_reminders ORDER BY lead_id`)).toEqual([{ lead_id: 'lead-control' }]);
  });
});
