import { apiClient, useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { NEVER } from '../support/job-env';

const API_KEY = 'unconfigured-channels-key-0123';

/**
 * The README's promise on a fresh machine: with no SMTP or Twilio settings, messages go to the log
 * channel. A campaign over e-mail (a CRM module) and an SMS follow-up are delivered to the log
 * (status sent), not failed permanently, and the startup log warns about each unconfigured channel.
 */
describe('CRM messages with no provider channel configured', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  const sql = fixture.sql.bind(fixture);
  const api = apiClient(() => worker, API_KEY);

  beforeAll(async () => {
    worker = fixture.spawn('no-channels', {
      ...fixture.serviceEnv('nochan:'),
      LOG_LEVEL: 'info',
      API_KEY,
      // No SMTP_*, EMAIL_FROM or TWILIO_* at all (spawnWorker passes only what is given here).
      SMTP_URL: undefined,
      SMTP_HOST: undefined,
      EMAIL_FROM: undefined,
      TWILIO_ACCOUNT_SID: undefined,
      TWILIO_AUTH_TOKEN: undefined,
      CAMPAIGN_CRON: '* * * * * *',
      LEAD_REMINDER_CRON: NEVER,
      NURTURE_CRON: NEVER,
      DUNNING_CRON: NEVER,
      KPI_SNAPSHOT_CRON: NEVER,
      TRIAL_EXPIRATION_CRON: NEVER,
      CALL_CLEANUP_CRON: NEVER,
    });
    await waitUntilStarted(worker);
    await sql(`INSERT INTO tenants (id, name, status) VALUES ('t1', 'T1', 'active')`);
    await sql(`INSERT INTO contacts (id, tenant_id, name, email, phone)
               SELECT 'c' || g, 't1', 'Contact ' || g, 'c' || g || '@t1.test', '+1555000000' || g FROM generate_series(1, 3) g`);
    await sql(`INSERT INTO contact_lists (id, tenant_id, name) VALUES ('all', 't1', 'All')`);
    await sql(`INSERT INTO contact_list_members (list_id, contact_id) SELECT 'all', id FROM contacts`);
  });

  it('warns at startup, naming each unconfigured channel and its settings', () => {
    const warnings = worker.logs.filter((l) => l.level === 'warn' && typeof l.channel === 'string' && /is not configured/.test(String(l.message)));
    expect(warnings.map((l) => l.channel).sort()).toEqual(['email', 'sms', 'whatsapp']);
    expect(warnings.find((l) => l.channel === 'email')?.configureWith).toMatch(/SMTP_URL or SMTP_HOST/);
    expect(worker.logs.find((l) => l.message === 'delivery dispatcher started')?.channelsOnLog).toEqual(['email', 'sms', 'whatsapp']);
  });

  it('an e-mail campaign and an SMS follow-up are delivered to the log, not failed', async () => {
    const campaign = await api('POST', '/campaigns', {
      tenantId: 't1',
      name: 'Launch',
      channel: 'email',
      subject: 'Hi {{ contact.name }}',
      template: 'News for {{ contact.name }}',
      sendAt: new Date().toISOString(),
      listId: 'all',
    });
    expect(campaign.status).toBe(201);
    const sms = await api('POST', '/followups', {
      tenantId: 't1',
      contactId: 'c1',
      channel: 'sms',
      recipient: '+15550000001',
      scheduledAt: new Date().toISOString(),
      template: 'Your visit is tomorrow',
      idempotencyKey: 'sms-no-twilio',
    });
    expect(sms.status).toBe(201);

    const rows = await waitFor('every message to settle', async () => {
      const found = await sql<{ idempotency_key: string; channel: string; status: string; last_error: string | null }>(
        `SELECT idempotency_key, channel, status, last_error FROM scheduled_messages WHERE tenant_id = 't1' ORDER BY idempotency_key`,
      );
      return found.length === 4 && found.every((r) => !['scheduled', 'claimed', 'sending'].includes(r.status)) ? found : undefined;
    });
    expect(rows.map((r) => [r.channel, r.status, r.last_error])).toEqual([
      ['email', 'sent', null],
      ['email', 'sent', null],
      ['email', 'sent', null],
      ['sms', 'sent', null],
    ]);
    const delivered = worker.logs.filter((l) => l.message === 'message delivered to log channel');
    expect(delivered.map((l) => l.unconfiguredChannel).sort()).toEqual(['email', 'email', 'email', 'sms']);
  });
});
