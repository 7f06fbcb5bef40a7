import twilio from 'twilio';
import { startFakeTwilio, type FakeTwilio } from '../fakes/fake-twilio';
import { NEVER } from '../support/job-env';
import { postSignedInbound } from '../support/twilio-inbound';
import { apiClient, useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'inbound-twilio-test-key-0123';
// What Twilio is configured to call: the worker's address behind the proxy, not 127.0.0.1:<port>.
const PUBLIC_BASE_URL = 'https://crm-worker.example.test';
const ANN = '+15551110001';
const BOB = '+15551110002';

/**
 * Issue 14, item 4: Twilio's inbound webhook, against a real worker process on real PostgreSQL
 * and Redis. Requests are signed the way Twilio signs them (the twilio package's
 * getExpectedTwilioSignature over the public URL and the form fields); outbound SMS go to the
 * local Twilio stand-in (test/fakes/fake-twilio.ts) through the official client.
 */
describe('the inbound Twilio webhook', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let fakeTwilio: FakeTwilio;
  const sql = fixture.sql.bind(fixture);
  const api = apiClient(() => worker, API_KEY);
  const local = (path: string) => `http://127.0.0.1:${worker.port()}${path}`;

  /** Posts a form as Twilio does; `sign` decides what X-Twilio-Signature is computed over. */
  const inbound = async (
    tenant: string,
    fields: Record<string, string>,
    sign: 'right' | 'none' | 'wrong-token' | 'local-url' | { url: string } = 'right',
    headers: Record<string, string> = {},
  ) => {
    const path = `/api/v1/inbound/twilio/${tenant}`;
    return postSignedInbound({
      localUrl: local(path),
      signedUrl: sign === 'local-url' ? local(path) : typeof sign === 'object' ? sign.url : PUBLIC_BASE_URL + path,
      authToken: sign === 'none' ? undefined : sign === 'wrong-token' ? 'not-the-auth-token' : fakeTwilio.authToken,
      fields: { AccountSid: fakeTwilio.accountSid, MessageSid: `SM${'0'.repeat(32)}`, To: '+15550000000', ...fields },
      headers,
    });
  };

  const snapshot = async () => ({
    replies: await sql(`SELECT contact_id, lead_id, channel, body FROM contact_replies ORDER BY id`),
    suppressions: await sql(`SELECT channel, recipient, source FROM suppressions ORDER BY channel, recipient`),
    enrollments: await sql(`SELECT id, status FROM nurture_enrollments ORDER BY id`),
    messages: await sql(`SELECT idempotency_key, status FROM scheduled_messages ORDER BY id`),
  });
  const message = async (key: string) =>
    (await sql<{ status: string; skip_reason: string | null }>(`SELECT status, skip_reason FROM scheduled_messages WHERE idempotency_key = $1`, [key]))[0];
  const scheduleSms = async (key: string, contactId: string, recipient: string, inMs: number, extra: Record<string, unknown> = {}) => {
    const answer = await api('POST', '/followups', {
      tenantId: 't1',
      contactId,
      channel: 'sms',
      recipient,
      scheduledAt: new Date(Date.now() + inMs).toISOString(),
      template: `Message ${key}`,
      idempotencyKey: key,
      ...extra,
    });
    expect(answer.status).toBe(201);
  };
  const dueNow = async (key: string) => {
    const moved = await api('POST', '/followups/reschedule', { tenantId: 't1', idempotencyKey: key, scheduledAt: new Date().toISOString() });
    expect(moved.body).toEqual({ moved: 1 });
  };

  beforeAll(async () => {
    fakeTwilio = await startFakeTwilio();
    worker = fixture.spawn('inbound-twilio', {
      ...fixture.serviceEnv('inbound:'),
      API_KEY,
      TWILIO_ACCOUNT_SID: fakeTwilio.accountSid,
      TWILIO_AUTH_TOKEN: fakeTwilio.authToken,
      TWILIO_SMS_FROM: '+15550000000',
      TWILIO_API_BASE_URL: fakeTwilio.baseUrl,
      // A trailing slash as an operator may write it: the signed URL has none.
      PUBLIC_BASE_URL: `${PUBLIC_BASE_URL}/`,
      NURTURE_CRON: NEVER,
      LEAD_REMINDER_CRON: NEVER,
      CAMPAIGN_CRON: NEVER,
      DUNNING_CRON: NEVER,
      KPI_SNAPSHOT_CRON: NEVER,
      TRIAL_EXPIRATION_CRON: NEVER,
      CALL_CLEANUP_CRON: NEVER,
    });
    await waitUntilStarted(worker);
    await sql(`INSERT INTO tenants (id, name, status, followup_enabled) VALUES ('t1', 'T1', 'active', true), ('t2', 'T2', 'active', true)`);
    await sql(`INSERT INTO contacts (id, tenant_id, name, email, phone) VALUES
                 ('c-ann', 't1', 'Ann', 'ann@t1.test', '${ANN}'), ('c-bob', 't1', 'Bob', 'bob@t1.test', '${BOB}')`);
    await sql(`INSERT INTO leads (id, tenant_id, contact_id) VALUES ('lead-ann', 't1', 'c-ann')`);
    await sql(`INSERT INTO nurture_sequences (id, tenant_id, name, channel) VALUES ('seq', 't1', 'Seq', 'email')`);
    await sql(`INSERT INTO nurture_steps (sequence_id, step_no, delay_minutes, template) VALUES ('seq', 1, 60, 'Hi'), ('seq', 2, 60, 'Again')`);
  });
  afterAll(async () => {
    await fakeTwilio?.close();
  });

  it('refuses an unsigned or wrongly signed request, and changes nothing', async () => {
    const enrolled = await api('POST', '/nurture/enrollments', { sequenceId: 'seq', contactId: 'c-ann', leadId: 'lead-ann' });
    expect(enrolled.status).toBe(201);
    await scheduleSms('ann-followup', 'c-ann', ANN, 3_600_000, { stopOnReply: true });
    const before = await snapshot();

    const reply = { From: ANN, Body: 'Yes, call me' };
    for (const sign of ['none', 'wrong-token', 'local-url', { url: `${PUBLIC_BASE_URL}/api/v1/inbound/twilio/t2` }] as const) {
      const refused = await inbound('t1', reply, sign);
      expect({ sign, status: refused.status, type: refused.type }).toEqual({ sign, status: 403, type: expect.stringContaining('application/problem+json') });
      expect(JSON.parse(refused.text).detail).toMatch(/X-Twilio-Signature/);
    }
    // Signed, but a field altered after signing (the sender swapped for another contact's number).
    const params = { AccountSid: fakeTwilio.accountSid, MessageSid: `SM${'0'.repeat(32)}`, To: '+15550000000', From: BOB, Body: 'STOP' };
    const signature = twilio.getExpectedTwilioSignature(fakeTwilio.authToken, `${PUBLIC_BASE_URL}/api/v1/inbound/twilio/t1`, params);
    const altered = await fetch(local('/api/v1/inbound/twilio/t1'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams({ ...params, From: ANN }).toString(),
    });
    expect(altered.status).toBe(403);
    // A signature is no API key: a signed request with a key is still checked by signature alone.
    expect((await inbound('t1', { From: ANN, Body: 'STOP' }, 'none', { 'x-api-key': API_KEY })).status).toBe(403);

    expect(await snapshot()).toEqual(before);
  });

  it('a signed SMS from a known contact is a reply: its stop-on-reply follow-up is skipped and its nurture sequence stops', async () => {
    const answer = await inbound('t1', { From: ANN, Body: 'Yes, call me' });
    expect(answer).toEqual({ status: 200, type: expect.stringContaining('text/xml'), text: '<?xml version="1.0" encoding="UTF-8"?><Response/>' });
    // Through the one reply door: for the contact's open lead too, with channel and text.
    expect(await sql(`SELECT contact_id, lead_id, channel, body FROM contact_replies ORDER BY id`)).toEqual([
      { contact_id: 'c-ann', lead_id: 'lead-ann', channel: 'sms', body: 'Yes, call me' },
    ]);
    expect(await sql(`SELECT status, stop_reason FROM nurture_enrollments WHERE contact_id = 'c-ann'`)).toEqual([{ status: 'stopped', stop_reason: 'reply' }]);
    expect(await sql(`SELECT status FROM scheduled_messages WHERE idempotency_key LIKE 'nurture:%' ORDER BY idempotency_key`)).toEqual([
      { status: 'cancelled' },
      { status: 'cancelled' },
    ]);

    await dueNow('ann-followup');
    await waitFor('the follow-up skipped', async () => (await message('ann-followup'))?.status === 'skipped');
    expect(await message('ann-followup')).toEqual({ status: 'skipped', skip_reason: 'contact_replied' });
    expect(fakeTwilio.messages.filter((m) => m.to === ANN)).toEqual([]);
  });

  it('a reply from a number no contact has is answered and recorded nowhere', async () => {
    const answer = await inbound('t1', { From: '+15559999999', Body: 'who is this?' });
    expect(answer.status).toBe(200);
    expect(await sql(`SELECT 1 FROM contact_replies WHERE body = 'who is this?'`)).toEqual([]);
  });

  it('STOP suppresses the channel: a message already scheduled is skipped, not sent; START lifts it', async () => {
    await scheduleSms('bob-1', 'c-bob', BOB, 3_600_000);
    const stop = await inbound('t1', { From: BOB, Body: 'Stop' });
    expect(stop.status).toBe(200);
    expect(await sql(`SELECT tenant_id, channel, recipient, source, reason FROM suppressions`)).toEqual([
      { tenant_id: 't1', channel: 'sms', recipient: BOB, source: 'inbound-stop', reason: 'inbound STOP' },
    ]);
    // The same store the API lists.
    const listed = await api('GET', `/v1/suppressions?tenantId=t1&channel=sms`);
    expect(listed.body.items).toEqual([expect.objectContaining({ recipient: BOB, source: 'inbound-stop' })]);

    await dueNow('bob-1');
    await waitFor('the scheduled SMS skipped', async () => (await message('bob-1'))?.status === 'skipped');
    expect(await message('bob-1')).toEqual({ status: 'skipped', skip_reason: 'suppressed' });
    expect(fakeTwilio.messages.filter((m) => m.to === BOB)).toEqual([]);

    const start = await inbound('t1', { From: BOB, Body: 'START' });
    expect(start.status).toBe(200);
    expect(await sql(`SELECT 1 FROM suppressions`)).toEqual([]);
    await scheduleSms('bob-2', 'c-bob', BOB, 0);
    await waitFor('the SMS after START sent', async () => (await message('bob-2'))?.status === 'sent');
    expect(fakeTwilio.messages.filter((m) => m.to === BOB).map((m) => m.body)).toEqual(['Message bob-2']);
    // Neither keyword is a reply.
    expect(await sql(`SELECT 1 FROM contact_replies WHERE contact_id = 'c-bob'`)).toEqual([]);
  });

  it('a WhatsApp STOP suppresses WhatsApp only, also a message addressed with the whatsapp: prefix', async () => {
    await scheduleSms('ann-wa', 'c-ann', `whatsapp:${ANN}`, 3_600_000, { channel: 'whatsapp' });
    await scheduleSms('ann-sms', 'c-ann', ANN, 3_600_000);
    expect((await inbound('t1', { From: `whatsapp:${ANN}`, Body: 'unsubscribe' })).status).toBe(200);
    expect(await sql(`SELECT channel, recipient, source FROM suppressions`)).toEqual([{ channel: 'whatsapp', recipient: ANN, source: 'inbound-stop' }]);
    await dueNow('ann-wa');
    await dueNow('ann-sms');
    await waitFor('both settled', async () => (await message('ann-wa'))?.status === 'skipped' && (await message('ann-sms'))?.status === 'sent');
    expect(await message('ann-wa')).toEqual({ status: 'skipped', skip_reason: 'suppressed' });
    expect((await inbound('t1', { From: `whatsapp:${ANN}`, Body: 'UNSTOP' })).status).toBe(200);
    expect(await sql(`SELECT 1 FROM suppressions`)).toEqual([]);
  });

  it("HELP is answered with the tenant's help text, or the default", async () => {
    const standard = await inbound('t1', { From: ANN, Body: 'HELP' });
    expect(standard.text).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Reply STOP to opt out, START to opt back in.</Message></Response>');
    const set = await api('PUT', '/v1/messaging-settings/t1', { helpText: 'Acme & Co: call 555-0100. Reply STOP to opt out.' });
    expect(set).toEqual({ status: 200, body: { tenantId: 't1', requireRecordedConsent: false, helpText: 'Acme & Co: call 555-0100. Reply STOP to opt out.' } });
    const own = await inbound('t1', { From: ANN, Body: 'help' });
    expect(own.text).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Acme &amp; Co: call 555-0100. Reply STOP to opt out.</Message></Response>');
    expect(await sql(`SELECT 1 FROM contact_replies WHERE body ILIKE 'help'`)).toEqual([]);
  });

  it('a signed request naming an unknown tenant or without a valid From is a 4xx naming what is wrong', async () => {
    const unknown = await inbound('t-none', { From: ANN, Body: 'hi' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text).detail).toMatch(/t-none/);
    const noFrom = await inbound('t1', { Body: 'hi' });
    expect(noFrom.status).toBe(400);
    expect(JSON.parse(noFrom.text).errors).toEqual([expect.objectContaining({ field: 'From' })]);
    const nul = await inbound('t1', { From: ANN, Body: 'a\u0000b' });
    expect(nul.status).toBe(400);
    expect(JSON.parse(nul.text).errors).toEqual([expect.objectContaining({ field: 'Body' })]);
    expect(await sql(`SELECT 1 FROM contact_replies WHERE body LIKE 'a%b'`)).toEqual([]);
  });

  it('the API key guard lets exactly the signed public routes through', async () => {
    const anonymous = async (method: string, path: string) => (await fetch(local(path), { method })).status;
    // The public routes answer by their own authentication (403), not the key's 401.
    expect(await anonymous('POST', '/api/v1/inbound/twilio/t1')).toBe(403);
    expect(await anonymous('GET', '/api/v1/unsubscribe/not-a-token')).toBe(404);
    expect(await anonymous('POST', '/api/v1/unsubscribe/not-a-token')).toBe(404);
    // Everything else, neighbours of those paths included, still needs the key.
    for (const [method, path] of [
      ['GET', '/api/v1/inbound/twilio/t1'],
      ['POST', '/api/v1/inbound/twilio'],
      ['POST', '/api/v1/inbound/twilio/t1/extra'],
      ['POST', '/api/v1/unsubscribe'],
      ['GET', '/api/v1/suppressions?tenantId=t1'],
      ['GET', '/api/v1/messaging-settings/t1'],
      ['DELETE', '/api/v1/suppressions?tenantId=t1&channel=sms&recipient=x'],
    ] as const) {
      expect({ method, path, status: await anonymous(method, path) }).toEqual({ method, path, status: 401 });
    }
  });
});
