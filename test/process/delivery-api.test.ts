import fc from 'fast-check';
import { IANAZone } from 'luxon';
import type { Database } from '../../src/db/database';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'delivery-api-test-key';
/** A local wall time a year ahead of now (these cases are refused for their form, never their date). */
const LOCAL_NEXT_YEAR = `${new Date().getUTCFullYear() + 1}-01-15T09:00`;

/**
 * The delivery API over HTTP on a real worker process: what it accepts, and a corpus of bad
 * requests (hand-written and fast-check generated) that must each get a 400 naming the field
 * while nothing stored is written or changed.
 */
describe('delivery API', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let db: Database;
  let sink: WebhookSink;

  beforeAll(async () => {
    sink = await startWebhookSink();
    worker = fixture.spawn('delivery-api', {
      ...fixture.serviceEnv(),
      LOG_LEVEL: 'info',
      JOBS_ENABLED: 'false',
      API_KEY,
      WEBHOOK_TARGETS: `crm=${sink.url}`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      FOLLOWUP_SCHEDULES: '30m,2h',
    });
    await waitUntilStarted(worker);
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
  });
  afterAll(async () => {
    await db?.close();
    await sink.close();
  });

  const call = async (method: string, path: string, body?: unknown, key: string | null = API_KEY) => {
    const response = await fetch(`http://127.0.0.1:${worker.port()}/api${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const snapshot = async () =>
    JSON.stringify((await db.query(`SELECT * FROM scheduled_messages ORDER BY id`)).rows) +
    JSON.stringify((await db.query(`SELECT * FROM contact_replies ORDER BY id`)).rows) +
    JSON.stringify((await db.query(`SELECT * FROM suppressions ORDER BY tenant_id, channel, recipient`)).rows);
  const valid = (overrides: Record<string, unknown> = {}) => ({
    tenantId: 't1',
    contactId: 'c-api',
    channel: 'email',
    recipient: 'ann@example.com',
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
    template: 'Hi {{ firstName }}, your visit is on {{ day }}',
    subject: 'About {{ day }}',
    variables: { firstName: 'Ann', day: 'Monday' },
    idempotencyKey: `api-${Math.random().toString(36).slice(2)}`,
    ...overrides,
  });

  it('needs the API key', async () => {
    expect((await call('GET', '/followups/pending', undefined, null)).status).toBe(401);
    expect((await call('GET', '/followups/pending', undefined, 'wrong-key')).status).toBe(401);
  });

  it('schedules, deduplicates, lists, records a response, marks sent, cancels, and reports the queue', async () => {
    // 15 January two years on, 09:00 in Berlin (CET, +01:00 in January): always in the future.
    const year = new Date().getUTCFullYear() + 2;
    const first = valid({ contactId: 'c-flow', scheduledAt: `${year}-01-15T09:00`, timezone: 'Europe/Berlin' });
    const created = await call('POST', '/followups', first);
    expect(created).toEqual({ status: 201, body: expect.objectContaining({ scheduled: 1, duplicates: 0 }) });
    expect((await call('POST', '/followups', first)).body).toEqual(expect.objectContaining({ scheduled: 0, duplicates: 1 }));

    const byContact = await call('GET', '/followups/contact/c-flow?tenantId=t1');
    expect(byContact.body.messages).toHaveLength(1);
    // 09:00 in Berlin in January is 08:00 UTC.
    expect(byContact.body.messages[0]).toEqual(expect.objectContaining({ status: 'scheduled', scheduledAt: `${year}-01-15T08:00:00.000Z` }));
    expect((await call('GET', '/followups/pending?tenantId=t1')).body.messages.map((m: { idempotencyKey: string }) => m.idempotencyKey)).toContain(
      first.idempotencyKey,
    );

    const response = await call('POST', '/followups/responses', { idempotencyKey: first.idempotencyKey, text: 'Thanks, see you' });
    expect(response.body).toEqual(expect.objectContaining({ responseText: 'Thanks, see you' }));
    expect((await call('POST', '/followups/mark-sent', { idempotencyKey: first.idempotencyKey, sentBy: 'ai_concierge' })).body).toEqual({
      marked: true,
      nextOccurrenceId: null,
    });

    const second = valid({ contactId: 'c-flow' });
    await call('POST', '/followups', second);
    expect((await call('POST', '/followups/cancel', { idempotencyKeys: [second.idempotencyKey] })).body).toEqual({ cancelled: 1 });

    const queue = await call('GET', '/followup/queue');
    expect(queue.body).toEqual(expect.objectContaining({ enabled: true, queue: 'scheduled_messages' }));
    expect(queue.body.by_status).toEqual(expect.objectContaining({ sent: 1, cancelled: 1 }));
    expect(queue.body.jobs).toEqual({ queued: expect.any(Number), scheduled: expect.any(Number) });
  });

  it('applies the auto follow-up rule once per lead, only at or above the threshold', async () => {
    const lead = { tenantId: 't1', leadId: 'lead-hot', predProb: 0.85 };
    const first = await call('POST', '/followups/auto', lead);
    expect(first.body).toEqual(expect.objectContaining({ triggered: true, delaysSeconds: [1800, 7200], scheduled: 2, duplicates: 0 }));
    expect((await call('POST', '/followups/auto', lead)).body).toEqual(expect.objectContaining({ scheduled: 0, duplicates: 2 }));
    expect((await call('POST', '/followups/auto', { ...lead, leadId: 'lead-cold', predProb: 0.5 })).body).toEqual(
      expect.objectContaining({ triggered: false, reason: 'below_threshold', threshold: 0.7 }),
    );
    const rows = await db.query<{ channel: string; recipient: string }>(`SELECT channel, recipient FROM scheduled_messages WHERE lead_id = 'lead-hot'`);
    expect(rows.rows).toEqual([
      { channel: 'webhook', recipient: 'crm' },
      { channel: 'webhook', recipient: 'crm' },
    ]);
  });

  it('reports the dispatcher as running', async () => {
    await waitFor('a tick', async () => (await call('GET', '/worker/health')).body?.status === 'running');
    const health = (await call('GET', '/worker/health')).body;
    expect(health).toEqual({ ok: true, status: 'running', last_tick: expect.any(String), checked_at: expect.any(String) });
  });

  describe('refuses bad input with a 400 naming the field, writing nothing', () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['unknown channel', '/followups', valid({ channel: 'pigeon' }), 'channel'],
      ['invalid e-mail', '/followups', valid({ recipient: 'ann(at)example' }), 'recipient'],
      ['invalid phone', '/followups', valid({ channel: 'sms', recipient: '555-1234' }), 'recipient'],
      ['unknown webhook target', '/followups', valid({ channel: 'webhook', recipient: 'nowhere' }), 'recipient'],
      ['time that is not a time', '/followups', valid({ scheduledAt: 'next tuesday' }), 'scheduledAt'],
      ['time without offset or zone', '/followups', valid({ scheduledAt: LOCAL_NEXT_YEAR }), 'scheduledAt'],
      ['bad time zone', '/followups', valid({ scheduledAt: LOCAL_NEXT_YEAR, timezone: 'Mars/Olympus' }), 'timezone'],
      ['missing template variable', '/followups', valid({ variables: { firstName: 'Ann' } }), 'variables.day'],
      ['missing subject variable', '/followups', valid({ subject: 'For {{ surname }}' }), 'variables.surname'],
      ['broken template', '/followups', valid({ template: 'Hi {% if %}' }), 'template'],
      ['no idempotency key', '/followups', valid({ idempotencyKey: undefined }), 'idempotencyKey'],
      ['unknown tenant', '/followups', valid({ tenantId: 'nobody' }), 'tenantId'],
      ['skipIfCompleted without item', '/followups', valid({ skipIfCompleted: true }), 'actionItemId'],
      ['recurring every second', '/followups', valid({ recurrenceIntervalSeconds: 1 }), 'recurrenceIntervalSeconds'],
      ['recurring under a minute', '/followups', valid({ recurrenceIntervalSeconds: 59 }), 'recurrenceIntervalSeconds'],
      ['recurring with a fractional interval', '/followups', valid({ recurrenceIntervalSeconds: 90.5 }), 'recurrenceIntervalSeconds'],
      [
        'recurring key in the occurrence form',
        '/followups',
        valid({ recurrenceIntervalSeconds: 3600, idempotencyKey: 'series@r1700000000' }),
        'idempotencyKey',
      ],
      ['one bad message in a batch', '/followups', { messages: [valid(), valid({ recipient: 'x' })] }, 'messages[1].recipient'],
      ['not an object', '/followups', [1, 2], 'body'],
      ['cancel without keys', '/followups/cancel', { idempotencyKeys: 'abc' }, 'idempotencyKeys'],
      ['reschedule to a non-time', '/followups/reschedule', { idempotencyKey: 'x', scheduledAt: '31/02/2030' }, 'scheduledAt'],
      ['response without text', '/followups/responses', { idempotencyKey: 'x' }, 'text'],
      ['probability out of range', '/followups/auto', { tenantId: 't1', leadId: 'l', predProb: 1.5 }, 'predProb'],
      ['redrive bad ids', '/delivery/redrive', { ids: ['1; drop table'] }, 'ids'],
      ['suppress on unknown channel', '/delivery/suppressions', { tenantId: 't1', channel: 'fax', recipient: 'x' }, 'channel'],
      ['suppress for unknown tenant', '/delivery/suppressions', { tenantId: 'nobody', channel: 'email', recipient: 'x@example.com' }, 'tenantId'],
    ];
    it.each(cases)('%s', async (_name, path, body, field) => {
      const before = await snapshot();
      const response = await call('POST', path, body);
      expect(response.status).toBe(400);
      expect(response.body.field).toBe(field);
      expect(response.body.error).toContain(field);
      expect(await snapshot()).toBe(before);
    });

    it('malformed JSON', async () => {
      const before = await snapshot();
      expect((await call('POST', '/followups', '{"tenantId": ')).status).toBe(400);
      expect(await snapshot()).toBe(before);
    });

    it('generated bad values in one field (fast-check)', async () => {
      const channels = ['email', 'sms', 'whatsapp', 'webhook', 'log'];
      const badField = fc.oneof(
        fc
          .string()
          .filter((s) => !channels.includes(s))
          .map((v) => ({ patch: { channel: v }, field: 'channel' })),
        fc
          .string()
          .filter((s) => !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s.trim()))
          .map((v) => ({ patch: { recipient: v }, field: 'recipient' })),
        fc
          .string()
          .filter((s) => !/^\+[1-9]\d{6,14}$/.test(s.trim()))
          .map((v) => ({ patch: { channel: 'sms', recipient: v }, field: 'recipient' })),
        fc
          .string()
          .filter((s) => Number.isNaN(Date.parse(s)) && !/\d{4}-\d{2}/.test(s))
          .map((v) => ({ patch: { scheduledAt: v }, field: 'scheduledAt' })),
        fc
          .string({ minLength: 1 })
          .filter((s) => !IANAZone.isValidZone(s))
          .map((v) => ({
            patch: { scheduledAt: LOCAL_NEXT_YEAR, timezone: v },
            field: 'timezone',
          })),
        fc
          .stringMatching(/^[a-z][a-z0-9_]{0,11}$/)
          .filter((n) => !['firstname', 'day', 'empty', 'blank', 'nil', 'null', 'true', 'false', 'forloop', 'tablerowloop'].includes(n.toLowerCase()))
          .map((name) => ({ patch: { template: `Hi {{ ${name} }}` }, field: `variables.${name}` })),
      );
      const before = await snapshot();
      await fc.assert(
        fc.asyncProperty(badField, async ({ patch, field }) => {
          const response = await call('POST', '/followups', valid(patch));
          return response.status === 400 && response.body.field === field && response.body.error.includes(field);
        }),
        { numRuns: 150 },
      );
      expect(await snapshot()).toBe(before);
    });
  });
});
