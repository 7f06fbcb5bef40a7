import { apiClient, useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { NEVER } from '../support/job-env';

const API_KEY = 'crm-process-test-key-0123456789';
const EVERY_SECOND = '* * * * * *';
const CRM_JOBS = ['campaign-scheduler', 'lead-reminder-scheduler', 'nurture-sequences', 'dunning-scheduler', 'kpi-snapshots'];

/**
 * The real worker (node dist/main.js) with every CRM job's cron overridden to every second:
 * each job runs through its schedule, under its lease, and shows in /health, /api/jobs and
 * /metrics; the API creates, moves and cancels appointments and campaigns.
 */
describe('CRM jobs in a running worker process', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  const sql = fixture.sql.bind(fixture);
  const api = apiClient(() => worker, API_KEY);

  beforeAll(async () => {
    worker = fixture.spawn('crm-process', {
      ...fixture.serviceEnv('crm:'),
      API_KEY,
      CAMPAIGN_CRON: EVERY_SECOND,
      LEAD_REMINDER_CRON: EVERY_SECOND,
      NURTURE_CRON: EVERY_SECOND,
      DUNNING_CRON: EVERY_SECOND,
      KPI_SNAPSHOT_CRON: EVERY_SECOND,
      CAMPAIGN_BATCH_SIZE: '7',
      CAMPAIGN_BATCH_DELAY: '10',
      TRIAL_EXPIRATION_CRON: NEVER,
      CALL_CLEANUP_CRON: NEVER,
    });
    await waitUntilStarted(worker);
    await sql(`INSERT INTO tenants (id, name, status, timezone) VALUES ('t1', 'T1', 'active', 'Asia/Kolkata')`);
    await sql(`INSERT INTO contacts (id, tenant_id, name, email, phone)
               SELECT 'c' || lpad(g::text, 3, '0'), 't1', 'Contact ' || g, 'c' || g || '@t1.test', '+1555000' || lpad(g::text, 4, '0')
                 FROM generate_series(1, 30) g`);
    await sql(`INSERT INTO contact_lists (id, tenant_id, name) VALUES ('all', 't1', 'All')`);
    await sql(`INSERT INTO contact_list_members (list_id, contact_id) SELECT 'all', id FROM contacts`);
  });

  it('every CRM job runs through its schedule and shows in /health, /api/jobs and /metrics', async () => {
    // Work for each job, written straight to the tables as the CRM would.
    await sql(`INSERT INTO lead_reminder_settings (tenant_id, no_reply_minutes, template, subject) VALUES ('t1', 60, 'Hi {{ contact.name }}', 'Hello')`);
    await sql(`INSERT INTO leads (id, tenant_id, contact_id, created_at) VALUES ('lead-1', 't1', 'c001', now() - interval '2 hours')`);
    await sql(`INSERT INTO invoices (id, tenant_id, contact_id, amount_cents, due_at, payment_link)
               VALUES ('inv-1', 't1', 'c002', 1000, now() + interval '1 day', 'https://pay.example/1')`);
    await sql(`INSERT INTO nurture_sequences (id, tenant_id, name, channel) VALUES ('seq', 't1', 'Seq', 'email')`);
    await sql(`INSERT INTO nurture_steps (sequence_id, step_no, delay_minutes, template) VALUES ('seq', 1, 60, 'Hi')`);
    const enrolled = await api('POST', '/nurture/enrollments', { sequenceId: 'seq', contactId: 'c003' });
    expect(enrolled.status).toBe(201);
    await sql(
      `INSERT INTO contact_replies (tenant_id, contact_id, channel, body, received_at) VALUES ('t1', 'c003', 'email', 'no thanks', now() + interval '1 second')`,
    );
    const created = await api('POST', '/campaigns', {
      tenantId: 't1',
      name: 'Launch',
      channel: 'email',
      subject: 'Hi {{ contact.name }}',
      template: 'Launch news for {{ contact.name }} from {{ campaign.name }}',
      sendAt: new Date().toISOString(),
      listId: 'all',
    });
    expect(created.status).toBe(201);

    await waitFor('a scheduled, succeeded run of every CRM job', async () => {
      const runs = await sql<{ job: string }>(`SELECT DISTINCT job FROM job_runs WHERE trigger = 'schedule' AND outcome = 'succeeded' AND job = ANY($1)`, [
        CRM_JOBS,
      ]);
      return runs.length === CRM_JOBS.length;
    });
    // Their effects.
    await waitFor('the campaign to be expanded', async () => (await api('GET', `/campaigns/${created.body.id}`)).body.queued === 30);
    expect(await sql(`SELECT count(*)::int AS n FROM scheduled_messages WHERE idempotency_key LIKE $1`, [`campaign:${created.body.id}:%`])).toEqual([
      { n: 30 },
    ]);
    await waitFor(
      'a lead reminder',
      async () => (await sql(`SELECT 1 FROM scheduled_messages WHERE type = 'lead-reminder' AND lead_id = 'lead-1'`)).length === 1,
    );
    await waitFor('dunning scheduled', async () => (await sql(`SELECT 1 FROM invoices WHERE id = 'inv-1' AND dunning_scheduled_at IS NOT NULL`)).length === 1);
    await waitFor(
      'the nurture enrolment stopped by the reply',
      async () =>
        (await sql(`SELECT 1 FROM nurture_enrollments WHERE id = $1 AND status = 'stopped' AND stop_reason = 'reply'`, [enrolled.body.id])).length === 1,
    );
    await waitFor('a KPI snapshot', async () => (await sql(`SELECT 1 FROM kpi_snapshots WHERE tenant_id = 't1'`)).length === 1);

    const health = (await worker.get('/health')).json();
    expect(Object.keys(health.jobs)).toEqual(
      expect.arrayContaining(['campaignScheduler', 'leadReminderScheduler', 'nurtureSequences', 'dunningScheduler', 'kpiSnapshots']),
    );
    const jobs = (await api('GET', '/jobs')).body.jobs as Array<{ name: string; schedule: string; lockKey: string }>;
    for (const name of CRM_JOBS) {
      expect(jobs).toContainEqual(expect.objectContaining({ name, schedule: EVERY_SECOND, lockKey: expect.stringMatching(new RegExp(`lock:${name}$`)) }));
    }
    const metrics = (await worker.get('/metrics')).json();
    expect(metrics.jobsProcessed.campaignScheduler).toBeGreaterThanOrEqual(30);
    expect(metrics.jobsProcessed.leadReminderScheduler).toBeGreaterThanOrEqual(1);
    const prometheus = (await worker.get('/metrics', { accept: 'text/plain' })).body;
    expect(prometheus).toMatch(/crm_worker_job_items_processed_total\{job="kpi-snapshots"\} [1-9]/);
    expect(prometheus).toMatch(/crm_worker_campaign_recipients_total\{outcome="queued"\} 30/);
  });

  it('the appointments API schedules, moves and removes reminders in the outbox', async () => {
    const startsAt = new Date(Date.now() + 48 * 3_600_000);
    const created = await api('POST', '/appointments', { tenantId: 't1', contactId: 'c005', startsAt: startsAt.toISOString(), title: 'Demo' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const live = () =>
      sql<{ idempotency_key: string; scheduled_at: Date }>(
        `SELECT idempotency_key, scheduled_at FROM scheduled_messages WHERE idempotency_key LIKE $1 AND status = 'scheduled' ORDER BY scheduled_at`,
        [`appt:${id}:%`],
      );
    expect((await live()).map((r) => [r.idempotency_key, new Date(r.scheduled_at).getTime()])).toEqual([
      [`appt:${id}:24h`, startsAt.getTime() - 24 * 3_600_000],
      [`appt:${id}:3h`, startsAt.getTime() - 3 * 3_600_000],
    ]);
    const later = new Date(startsAt.getTime() + 5 * 3_600_000);
    expect((await api('PATCH', `/appointments/${id}`, { startsAt: later.toISOString() })).status).toBe(200);
    expect((await live()).map((r) => [r.idempotency_key, new Date(r.scheduled_at).getTime()])).toEqual([
      [`appt:${id}:v1:24h`, later.getTime() - 24 * 3_600_000],
      [`appt:${id}:v1:3h`, later.getTime() - 3 * 3_600_000],
    ]);
    const cancelled = await api('POST', `/appointments/${id}/cancel`);
    expect(cancelled.body).toEqual(expect.objectContaining({ remindersCancelled: 2 }));
    expect(await live()).toEqual([]);
  });

  it('bad API input gets a 400 naming the field and writes nothing', async () => {
    const before = await sql(`SELECT (SELECT count(*) FROM campaigns) AS campaigns, (SELECT count(*) FROM appointments) AS appointments`);
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['POST', '/campaigns', { tenantId: 't1', name: 'x', channel: 'fax', template: 'x', sendAt: 'now', listId: 'all' }, /channel: must be email or whatsapp/],
      [
        'POST',
        '/campaigns',
        { tenantId: 't1', name: 'x', channel: 'email', subject: 's', template: 'Hi {{ nope }}', sendAt: new Date().toISOString(), listId: 'all' },
        /template \(variables\.nope\)/,
      ],
      [
        'POST',
        '/campaigns',
        { tenantId: 't1', name: 'x', channel: 'email', subject: 's', template: 'Hi {% if %}', sendAt: new Date().toISOString(), listId: 'all' },
        /template: not a valid Liquid template/,
      ],
      [
        'POST',
        '/campaigns',
        { tenantId: 't1', name: 'x', channel: 'email', subject: 's', template: 'x', sendAt: new Date().toISOString() },
        /listId: give exactly one of listId or segmentId/,
      ],
      [
        'POST',
        '/campaigns',
        { tenantId: 't1', name: 'x', channel: 'email', subject: 's', template: 'x', sendAt: new Date().toISOString(), listId: 'nosuch' },
        /listId: list nosuch not found/,
      ],
      ['POST', '/appointments', { tenantId: 't1', contactId: 'c001', startsAt: 'tomorrow' }, /startsAt: must be an ISO 8601 time/],
      ['POST', '/appointments', { tenantId: 't1', contactId: 'c001', startsAt: new Date().toISOString(), extra: 1 }, /body: unknown field\(s\) extra/],
      ['PATCH', '/appointments/none', { startsAt: new Date().toISOString() }, /appointment none not found/],
      [
        'POST',
        '/invoices',
        { tenantId: 't1', contactId: 'c001', amountCents: -5, dueAt: new Date().toISOString(), paymentLink: 'ftp://x' },
        /amountCents: must be positive.*paymentLink/,
      ],
    ];
    for (const [method, path, body, error] of cases) {
      const response = await api(method, path, body);
      expect([400, 404]).toContain(response.status);
      expect(response.body.error).toMatch(error);
    }
    expect(await sql(`SELECT (SELECT count(*) FROM campaigns) AS campaigns, (SELECT count(*) FROM appointments) AS appointments`)).toEqual(before);
  });
});
