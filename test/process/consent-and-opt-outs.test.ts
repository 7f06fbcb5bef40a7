import { startFakeTwilio, type FakeTwilio } from '../fakes/fake-twilio';
import { startSmtpSink, type SmtpSink } from '../fakes/smtp-sink';
import { NEVER } from '../support/job-env';
import { apiClient, useProcessFixture } from '../support/process-fixture';
import { postSignedInbound } from '../support/twilio-inbound';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'consent-opt-outs-test-key-0123';
const PUBLIC_BASE_URL = 'https://crm-worker.example.test';
const UNSUBSCRIBE_SECRET = 'consent-test-unsubscribe-secret-0123456789';

/**
 * Issue 14, item 3, against a real worker process on real PostgreSQL and Redis, a real SMTP
 * server (test/fakes/smtp-sink.ts) and the local Twilio stand-in: consent and opt-outs are
 * checked at send time (a message scheduled before the contact opted out is skipped with its
 * reason, never sent), and the three doors (the API, an inbound STOP, a one-click e-mail
 * unsubscribe) land in the one suppressions store and are lifted the same way.
 */
describe('consent and opt-outs at send time', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let smtp: SmtpSink;
  let fakeTwilio: FakeTwilio;
  const sql = fixture.sql.bind(fixture);
  const api = apiClient(() => worker, API_KEY);
  const local = (path: string) => `http://127.0.0.1:${worker.port()}${path}`;
  const message = async (key: string) =>
    (await sql<{ status: string; skip_reason: string | null }>(`SELECT status, skip_reason FROM scheduled_messages WHERE idempotency_key = $1`, [key]))[0];

  const schedule = async (key: string, fields: Record<string, unknown>, inMs = 3_600_000) => {
    const answer = await api('POST', '/followups', {
      tenantId: 't1',
      scheduledAt: new Date(Date.now() + inMs).toISOString(),
      subject: 'Hello',
      template: `Message ${key}`,
      idempotencyKey: key,
      ...fields,
    });
    expect(answer.status).toBe(201);
  };
  const dueNow = async (tenantId: string, key: string) => {
    const moved = await api('POST', '/followups/reschedule', { tenantId, idempotencyKey: key, scheduledAt: new Date().toISOString() });
    expect(moved.body).toEqual({ moved: 1 });
  };
  const settled = async (key: string) => {
    await waitFor(`${key} settled`, async () => ['sent', 'skipped', 'failed', 'dead'].includes((await message(key))?.status ?? ''));
    return message(key);
  };
  const mailsTo = (address: string) => smtp.received.filter((m) => (Array.isArray(m.to) ? m.to[0] : m.to)?.value[0]?.address === address);
  const smsTo = (number: string) => fakeTwilio.messages.filter((m) => m.to === number);
  const putContact = async (id: string, tenantId: string, fields: Record<string, unknown>) => {
    const answer = await api('PUT', `/v1/contacts/${id}`, { tenantId, name: id, ...fields });
    expect([200, 201]).toContain(answer.status);
  };

  beforeAll(async () => {
    smtp = await startSmtpSink();
    fakeTwilio = await startFakeTwilio();
    worker = fixture.spawn('consent', {
      ...fixture.serviceEnv('consent:'),
      API_KEY,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      EMAIL_FROM: 'crm@example.test',
      TWILIO_ACCOUNT_SID: fakeTwilio.accountSid,
      TWILIO_AUTH_TOKEN: fakeTwilio.authToken,
      TWILIO_SMS_FROM: '+15550000000',
      TWILIO_API_BASE_URL: fakeTwilio.baseUrl,
      PUBLIC_BASE_URL,
      UNSUBSCRIBE_SECRET,
      NURTURE_CRON: NEVER,
      LEAD_REMINDER_CRON: NEVER,
      CAMPAIGN_CRON: NEVER,
      DUNNING_CRON: NEVER,
      KPI_SNAPSHOT_CRON: NEVER,
      TRIAL_EXPIRATION_CRON: NEVER,
      CALL_CLEANUP_CRON: NEVER,
    });
    await waitUntilStarted(worker);
    for (const id of ['t1', 't2']) expect((await api('PUT', `/v1/tenants/${id}`, { name: id, status: 'active' })).status).toBe(201);
  });
  afterAll(async () => {
    await smtp?.close();
    await fakeTwilio?.close();
  });

  it('a recorded false skips that channel; a tenant that sets nothing sends when nothing is recorded', async () => {
    await putContact('no', 't1', { email: 'no@example.test', phone: '+15552220001', consent: { email: false, sms: false } });
    await putContact('open', 't1', { email: 'open@example.test', phone: '+15552220002' });
    await schedule('no-email', { contactId: 'no', channel: 'email', recipient: 'no@example.test' }, 0);
    await schedule('no-sms', { contactId: 'no', channel: 'sms', recipient: '+15552220001' }, 0);
    await schedule('open-sms', { contactId: 'open', channel: 'sms', recipient: '+15552220002' }, 0);
    expect(await settled('no-email')).toEqual({ status: 'skipped', skip_reason: 'no_consent' });
    expect(await settled('no-sms')).toEqual({ status: 'skipped', skip_reason: 'no_consent' });
    expect(await settled('open-sms')).toEqual({ status: 'sent', skip_reason: null });
    expect(mailsTo('no@example.test')).toEqual([]);
    expect(smsTo('+15552220001')).toEqual([]);
  });

  it('a message scheduled before the contact withdrew consent is skipped with the reason, not sent', async () => {
    await putContact('later', 't1', { email: 'later@example.test', consent: { email: true } });
    await schedule('later-email', { contactId: 'later', channel: 'email', recipient: 'later@example.test' });
    await putContact('later', 't1', { email: 'later@example.test', consent: { email: false } });
    await dueNow('t1', 'later-email');
    expect(await settled('later-email')).toEqual({ status: 'skipped', skip_reason: 'no_consent' });
    expect(mailsTo('later@example.test')).toEqual([]);
  });

  it('a tenant requiring recorded consent sends SMS only on a recorded true (its lead counts), e-mail as before', async () => {
    const set = await api('PUT', '/v1/messaging-settings/t2', { requireRecordedConsent: true });
    expect(set.body).toEqual({ tenantId: 't2', requireRecordedConsent: true, helpText: null });
    await putContact('d-unknown', 't2', { email: 'd-unknown@example.test', phone: '+15553330001' });
    await putContact('d-yes', 't2', { phone: '+15553330002', consent: { sms: true } });
    await sql(`INSERT INTO leads (id, tenant_id, contact_id) VALUES ('lead-d-yes', 't2', 'd-yes')`);
    const t2 = (key: string, fields: Record<string, unknown>) => schedule(key, { tenantId: 't2', ...fields }, 0);
    await t2('d-unknown-sms', { contactId: 'd-unknown', channel: 'sms', recipient: '+15553330001' });
    await t2('d-unknown-email', { contactId: 'd-unknown', channel: 'email', recipient: 'd-unknown@example.test' });
    await t2('d-yes-sms', { contactId: 'd-yes', channel: 'sms', recipient: '+15553330002' });
    await t2('d-yes-lead-sms', { leadId: 'lead-d-yes', channel: 'sms', recipient: '+15553330002' });
    await t2('nobody-sms', { channel: 'sms', recipient: '+15553330003' });
    expect(await settled('d-unknown-sms')).toEqual({ status: 'skipped', skip_reason: 'consent_not_recorded' });
    expect(await settled('nobody-sms')).toEqual({ status: 'skipped', skip_reason: 'consent_not_recorded' });
    expect(await settled('d-unknown-email')).toEqual({ status: 'sent', skip_reason: null });
    expect(await settled('d-yes-sms')).toEqual({ status: 'sent', skip_reason: null });
    expect(await settled('d-yes-lead-sms')).toEqual({ status: 'sent', skip_reason: null });
    expect(smsTo('+15553330001')).toEqual([]);
    expect(smsTo('+15553330003')).toEqual([]);
  });

  it('messaging settings: bad input is a 400 naming each field, an unknown tenant a 404, and nothing changes', async () => {
    const before = await api('GET', '/v1/messaging-settings/t2');
    expect(before.body).toEqual({ tenantId: 't2', requireRecordedConsent: true, helpText: null });
    const bad = await api('PUT', '/v1/messaging-settings/t2', { requireRecordedConsent: 'yes', helpText: '  ', extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['extra', 'helpText', 'requireRecordedConsent']);
    expect((await api('PUT', '/v1/messaging-settings/t-none', {})).status).toBe(404);
    expect((await api('GET', '/v1/messaging-settings/t-none')).status).toBe(404);
    expect(await sql(`SELECT tenant_id FROM messaging_settings ORDER BY tenant_id`)).toEqual([{ tenant_id: 't2' }]);
    expect((await api('GET', '/v1/messaging-settings/t2')).body).toEqual(before.body);
    // A tenant that never set anything shows the defaults.
    expect((await api('GET', '/v1/messaging-settings/t1')).body).toEqual({ tenantId: 't1', requireRecordedConsent: false, helpText: null });
  });

  it('opt-outs from the API, an inbound STOP and a one-click unsubscribe land in one store, skip what was scheduled, and are lifted the same way', async () => {
    await putContact('ann', 't1', { email: 'ann@example.test' });
    await putContact('bob', 't1', { email: 'bob@example.test' });
    await putContact('cat', 't1', { phone: '+15554440001' });
    // Scheduled before anyone opts out.
    await schedule('ann-later', { contactId: 'ann', channel: 'email', recipient: 'ann@example.test' });
    await schedule('bob-later', { contactId: 'bob', channel: 'email', recipient: 'bob@example.test' });
    await schedule('cat-later', { contactId: 'cat', channel: 'sms', recipient: '+15554440001' });

    // Ann unsubscribes with the link of an e-mail she got, as her mail client does (RFC 8058).
    await schedule('ann-now', { contactId: 'ann', channel: 'email', recipient: 'ann@example.test' }, 0);
    expect(await settled('ann-now')).toEqual({ status: 'sent', skip_reason: null });
    const mail = mailsTo('ann@example.test')[0]!;
    const header = (name: string) => mail.headerLines.find((h) => h.key === name)?.line.replace(/^[^:]+:\s*/, '');
    expect(header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const link = new URL(/^<(.+)>$/.exec(header('list-unsubscribe')!.replace(/\r?\n\s*/g, ''))![1]!);
    expect(link.origin).toBe(PUBLIC_BASE_URL);
    // The proxy in front forwards the public path to the worker.
    const unsubscribed = await fetch(local(link.pathname), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(unsubscribed.status).toBe(200);
    // Bob is opted out by the CRM through the API; Cat texts STOP.
    expect((await api('PUT', '/v1/suppressions', { tenantId: 't1', channel: 'email', recipient: 'bob@example.test', reason: 'asked by phone' })).status).toBe(
      201,
    );
    const stop = await postSignedInbound({
      localUrl: local('/api/v1/inbound/twilio/t1'),
      signedUrl: `${PUBLIC_BASE_URL}/api/v1/inbound/twilio/t1`,
      authToken: fakeTwilio.authToken,
      fields: { From: '+15554440001', To: '+15550000000', Body: 'STOP' },
    });
    expect(stop.status).toBe(200);

    const listed = await api('GET', '/v1/suppressions?tenantId=t1');
    expect(listed.body.items.map((s: Record<string, unknown>) => [s.channel, s.recipient, s.source])).toEqual([
      ['email', 'ann@example.test', 'unsubscribe'],
      ['email', 'bob@example.test', 'api'],
      ['sms', '+15554440001', 'inbound-stop'],
    ]);

    for (const key of ['ann-later', 'bob-later', 'cat-later']) await dueNow('t1', key);
    for (const key of ['ann-later', 'bob-later', 'cat-later']) expect(await settled(key)).toEqual({ status: 'skipped', skip_reason: 'suppressed' });
    expect(mailsTo('ann@example.test')).toHaveLength(1);
    expect(mailsTo('bob@example.test')).toEqual([]);
    expect(smsTo('+15554440001')).toEqual([]);

    // Each lifted the same way, whichever door set it; then their messages go out again.
    for (const [channel, recipient] of [
      ['email', 'ann@example.test'],
      ['email', 'bob@example.test'],
      ['sms', '+15554440001'],
    ]) {
      const lifted = await fetch(local(`/api/v1/suppressions?${new URLSearchParams({ tenantId: 't1', channel: channel!, recipient: recipient! })}`), {
        method: 'DELETE',
        headers: { 'x-api-key': API_KEY },
      });
      expect({ recipient, status: lifted.status }).toEqual({ recipient, status: 204 });
    }
    expect(await sql(`SELECT 1 FROM suppressions WHERE tenant_id = 't1'`)).toEqual([]);
    await schedule('ann-again', { contactId: 'ann', channel: 'email', recipient: 'ann@example.test' }, 0);
    await schedule('bob-again', { contactId: 'bob', channel: 'email', recipient: 'bob@example.test' }, 0);
    await schedule('cat-again', { contactId: 'cat', channel: 'sms', recipient: '+15554440001' }, 0);
    for (const key of ['ann-again', 'bob-again', 'cat-again']) expect(await settled(key)).toEqual({ status: 'sent', skip_reason: null });
  });

  it('an unsubscribe link: GET only shows a form, a forged or altered link is refused, POST opts out once', async () => {
    await putContact('eve', 't1', { email: 'eve@example.test' });
    await schedule('eve-now', { contactId: 'eve', channel: 'email', recipient: 'eve@example.test' }, 0);
    expect(await settled('eve-now')).toEqual({ status: 'sent', skip_reason: null });
    const header = mailsTo('eve@example.test')[0]!.headerLines.find((h) => h.key === 'list-unsubscribe')!.line;
    const path = new URL(/<(.+)>/.exec(header.replace(/\r?\n\s*/g, ''))![1]!).pathname;
    const token = path.split('/').pop()!;
    const suppressions = () => sql(`SELECT channel, recipient, source FROM suppressions WHERE tenant_id = 't1'`);

    // Mail scanners follow GET links: the page only offers the button.
    const page = await fetch(local(path));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('<form method="post">');
    expect(html).toContain('eve@example.test');
    expect(await suppressions()).toEqual([]);

    // Another recipient under Eve's signature, an altered signature, a made-up token.
    const [, signature] = token.split('.');
    const mallory = Buffer.from(JSON.stringify(['t1', 'email', 'ann@example.test'])).toString('base64url');
    const at = token.length - 10;
    const altered = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
    for (const forged of [`${mallory}.${signature}`, altered, 'bm90LWEtdG9rZW4.c2lnbmF0dXJl']) {
      for (const method of ['GET', 'POST']) {
        const refused = await fetch(local(`/api/v1/unsubscribe/${forged}`), { method });
        expect({ forged, method, status: refused.status }).toEqual({ forged, method, status: 403 });
      }
    }
    expect(await suppressions()).toEqual([]);

    for (let i = 0; i < 2; i++) {
      const done = await fetch(local(path), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      });
      expect(done.status).toBe(200);
    }
    expect(await suppressions()).toEqual([{ channel: 'email', recipient: 'eve@example.test', source: 'unsubscribe' }]);
  });
});
