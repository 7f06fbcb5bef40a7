import { DateTime } from 'luxon';
import type { Database } from '../../src/db/database';
import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { openMigratedDatabase } from '../support/harness';
import { sinkWorkerEnv } from '../support/delivery-harness';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { reserveConnectionsForFile } from '../support/connection-budget';

const API_KEY = 'policies-process-test-key-0123456789';
const CONTACTS = 8;
const CAP = 3;

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(28);

/**
 * The delivery policies on three real worker processes sharing one PostgreSQL: a frequency cap
 * ('*', 3 per hour) over messages of four sources due at the same instant for the same contacts
 * (campaign, nurture and lead-reminder rows through the outbox, follow-ups through the API of one
 * worker), claimed two at a time by every worker at once; and quiet hours, held to the window's end
 * and delivered then, a transactional reminder delivered inside. The policies are set through
 * /api/v1, whose refusals name the field and store nothing.
 */
describe('delivery policies across worker processes', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
  let db: Database;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    sink = await startWebhookSink();
    db = await openMigratedDatabase('postgres', fixture.db.url);
    for (const n of [1, 2, 3]) {
      workers.push(
        fixture.spawn(`policies-${n}`, {
          ...sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'policies'),
          API_KEY,
          // Small claims, so the workers' claims of one contact's messages interleave.
          DELIVERY_BATCH_SIZE: '2',
          DELIVERY_CONCURRENCY: '2',
        }),
      );
    }
    await Promise.all(workers.map((w) => waitUntilStarted(w)));
  });
  afterAll(async () => {
    await db?.close();
    await sink?.close();
  });

  const call = v1Client(() => workers[0]!, API_KEY);
  const message = (tenantId: string, contactId: string, type: string, key: string, at: Date): ScheduleRequest => ({
    tenantId,
    contactId,
    channel: 'webhook',
    recipient: 'sink',
    scheduledAt: at,
    template: 'Message {{ key }}',
    variables: { key },
    type,
    idempotencyKey: key,
  });

  it('the policy routes refuse bad input naming the field, and store nothing', async () => {
    expect((await call('PUT', '/v1/tenants/fc', { name: 'Capped', status: 'active' })).status).toBe(201);
    const refused: Array<[string, Record<string, unknown>, string]> = [
      ['/v1/frequency-caps', { tenantId: 'fc', class: 'transactional', maxMessages: 3, periodSeconds: 3600 }, 'class'],
      ['/v1/frequency-caps', { tenantId: 'fc', class: 'marketing', maxMessages: 0, periodSeconds: 3600 }, 'maxMessages'],
      ['/v1/frequency-caps', { tenantId: 'fc', class: 'marketing', maxMessages: 3, periodSeconds: 5 }, 'periodSeconds'],
      ['/v1/frequency-caps', { tenantId: 'nobody', class: 'marketing', maxMessages: 3, periodSeconds: 3600 }, 'tenantId'],
      ['/v1/quiet-hours', { tenantId: 'fc', starts: '21:00', ends: '25:00' }, 'ends'],
      ['/v1/quiet-hours', { tenantId: 'fc', starts: '08:00', ends: '08:00' }, 'ends'],
      ['/v1/quiet-hours', { tenantId: 'fc', starts: '21:00', ends: '08:00', channel: 'fax' }, 'channel'],
      ['/v1/quiet-hours', { tenantId: 'fc', starts: '21:00', ends: '08:00', appliesTo: 'list:1' }, 'appliesTo'],
      ['/v1/quiet-hours', { tenantId: 'fc', starts: '21:00', ends: '08:00', mode: 'later' }, 'mode'],
    ];
    for (const [path, body, field] of refused) {
      const answer = await call('PUT', path, body);
      expect({ path, field, status: answer.status }).toEqual({ path, field, status: 400 });
      expect(JSON.stringify(answer.body)).toContain(field);
    }
    expect((await call('GET', '/v1/frequency-caps?tenantId=fc')).body).toEqual({ items: [], nextCursor: null });
    expect((await call('GET', '/v1/quiet-hours?tenantId=fc')).body).toEqual({ items: [], nextCursor: null });
    expect((await call('DELETE', '/v1/frequency-caps?tenantId=fc&class=marketing')).status).toBe(404);

    // Set, replaced, read, removed.
    const put = { tenantId: 'fc', starts: '21:00', ends: '08:00' };
    expect((await call('PUT', '/v1/quiet-hours', put)).status).toBe(201);
    const replaced = await call('PUT', '/v1/quiet-hours', { ...put, mode: 'skip' });
    expect(replaced).toEqual(
      expect.objectContaining({ status: 200, body: expect.objectContaining({ channel: '*', appliesTo: '*', starts: '21:00', mode: 'skip' }) }),
    );
    expect((await call('GET', '/v1/quiet-hours?tenantId=fc&limit=1')).body.items).toHaveLength(1);
    expect((await call('DELETE', '/v1/quiet-hours?tenantId=fc')).status).toBe(204);
    expect((await call('GET', '/v1/quiet-hours?tenantId=fc')).body.items).toEqual([]);
  });

  /**
   * The quiet-hours scenario below waits its 15 s window out (the margin in which the reminder
   * must be delivered on a busy host). It is laid out by the cap test's start, so that the window
   * runs out while the cap scenario runs: another tenant ('qh', not capped) whose rows only its
   * own assertions and the quiet-hours metric look at, as the cap test's look only at 'fc'. The
   * quiet-hours test lays it out itself if run alone.
   */
  let quietWindow: Promise<{ endsAt: number }> | undefined;
  const openQuietWindow = () =>
    (quietWindow ??= (async () => {
      expect((await call('PUT', '/v1/tenants/qh', { name: 'Quiet', status: 'active', timezone: 'America/New_York' })).status).toBe(201);
      const now = Date.now();
      const local = (t: number) => DateTime.fromMillis(t, { zone: 'America/New_York' }).toFormat('HH:mm:ss');
      const endsAt = Math.ceil((now + 15_000) / 1_000) * 1_000;
      const window = await call('PUT', '/v1/quiet-hours', { tenantId: 'qh', channel: 'webhook', starts: local(now - 3_600_000), ends: local(endsAt) });
      expect(window.status).toBe(201);
      const due = new Date(now - 1_000);
      await scheduleMessages(db, [message('qh', 'q1', 'campaign', 'qh-campaign', due), message('qh', 'q1', 'appointment-reminder', 'qh-reminder', due)]);
      return { endsAt };
    })());

  it(`never more than ${CAP} per contact and hour from four sources on three workers; transactional messages are not capped`, async () => {
    // Awaited (and its failures reported) by the quiet-hours test.
    openQuietWindow().catch(() => undefined);
    const cap = await call('PUT', '/v1/frequency-caps', { tenantId: 'fc', class: '*', maxMessages: CAP, periodSeconds: 3600 });
    expect(cap).toEqual(expect.objectContaining({ status: 201, body: expect.objectContaining({ class: '*', maxMessages: CAP, mode: 'defer' }) }));
    // All due at one instant, a little ahead, so the three workers wake and claim together.
    const at = new Date(Date.now() + 3_000);
    const contacts = Array.from({ length: CONTACTS }, (_, i) => `fc-c${i}`);
    const outboxRows = contacts.flatMap((c) =>
      ['campaign', 'nurture', 'lead-reminder', 'appointment-reminder'].flatMap((type) =>
        (type === 'appointment-reminder' ? [0] : [0, 1]).map((n) => message('fc', c, type, `${type}-${c}-${n}`, at)),
      ),
    );
    const viaApi = contacts.flatMap((c) => [0, 1].map((n) => ({ ...message('fc', c, 'followup', `followup-${c}-${n}`, at), scheduledAt: at.toISOString() })));
    const [scheduled, posted] = await Promise.all([scheduleMessages(db, outboxRows), call('POST', '/v1/messages', { messages: viaApi })]);
    expect(scheduled.scheduled).toBe(CONTACTS * 7);
    expect(posted.body).toEqual(expect.objectContaining({ scheduled: CONTACTS * 2 }));

    // Settled: nothing due or in flight, every contact's messages sent or held.
    const rows = await waitFor(
      'every message sent or deferred',
      async () => {
        const r = await db.query<{
          contact_id: string;
          type: string;
          status: string;
          hold_reason: string | null;
          held_until: Date | null;
          sent_by: string | null;
        }>(`SELECT contact_id, type, status, hold_reason, held_until, sent_by FROM scheduled_messages WHERE tenant_id = 'fc'`);
        const settled = r.rows.every((m) => m.status === 'sent' || (m.status === 'scheduled' && m.hold_reason === 'frequency-cap'));
        return settled && r.rows.length === CONTACTS * 9 ? r.rows : undefined;
      },
      { limitMs: 60_000, everyMs: 200 },
    );
    for (const c of contacts) {
      const mine = rows.filter((m) => m.contact_id === c);
      const sent = mine.filter((m) => m.status === 'sent');
      expect({ c, capped: sent.filter((m) => m.type !== 'appointment-reminder').length }).toEqual({ c, capped: CAP });
      expect({ c, reminders: sent.filter((m) => m.type === 'appointment-reminder').length }).toEqual({ c, reminders: 1 });
      // Deferred about an hour: until the first of the three sent leaves the period.
      for (const held of mine.filter((m) => m.status === 'scheduled')) {
        expect(held.held_until!.getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
      }
    }
    // What the receiver got: the same, once per key.
    for (const c of contacts) {
      const got = sink.deliveries.filter((d) => d.body['contact_id'] === c && d.body['type'] !== 'appointment-reminder');
      expect({ c, delivered: got.length }).toEqual({ c, delivered: CAP });
    }
    expect(sink.duplicates).toEqual([]);
    // The workers really shared the work.
    expect(new Set(rows.filter((m) => m.status === 'sent').map((m) => m.sent_by)).size).toBeGreaterThan(1);
    // The held ones show why through the API.
    const page = await call('GET', `/v1/messages?tenantId=fc&limit=1000`);
    const held = (page.body.items as Array<{ status: string; holdReason: string | null; heldUntil: string | null }>).filter((m) => m.status === 'scheduled');
    expect(held.length).toBe(CONTACTS * (8 - CAP));
    expect(held.every((m) => m.holdReason === 'frequency-cap' && m.heldUntil !== null)).toBe(true);
    // Counted where they were held: over the three workers, once each.
    let heldCount = 0;
    for (const w of workers) {
      const text = (await w.get('/metrics', { accept: 'text/plain' })).body;
      heldCount += Number(/crm_worker_delivery_policy_total\{policy="frequency-cap",action="held"\} (\d+)/.exec(text)?.[1] ?? 0);
    }
    expect(heldCount).toBe(CONTACTS * (8 - CAP));
  });

  it('quiet hours hold a message to the end of the window on the workers, once; a transactional one goes inside it', async () => {
    const { endsAt } = await openQuietWindow();

    const reminder = await waitFor('the reminder delivered', () => sink.deliveries.find((d) => d.key === 'qh-reminder'));
    expect(reminder.receivedAt).toBeLessThan(endsAt);
    const campaign = await waitFor('the held message delivered', () => sink.deliveries.find((d) => d.key === 'qh-campaign'), { limitMs: 60_000 });
    const row = (
      await db.query<{ held_until: Date; hold_reason: string }>(`SELECT held_until, hold_reason FROM scheduled_messages WHERE idempotency_key = 'qh-campaign'`)
    ).rows[0]!;
    // Due again at the end, on the database's clock; the receiver (this host's clock, which the
    // local database shares) got it after that. sent_at is not compared: it is the worker's
    // estimate of the database's clock (database-clock.ts), off by up to half a round trip.
    expect(row).toEqual(expect.objectContaining({ hold_reason: 'quiet-hours', held_until: new Date(endsAt) }));
    expect(campaign.receivedAt).toBeGreaterThanOrEqual(endsAt);
    expect(sink.deliveries.filter((d) => d.key === 'qh-campaign')).toHaveLength(1);
    expect(sink.duplicates).toEqual([]);
    const view = await call('GET', `/v1/messages?tenantId=qh`);
    expect(view.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ idempotencyKey: 'qh-campaign', holdReason: 'quiet-hours', heldUntil: new Date(endsAt).toISOString() }),
      ]),
    );
  });
});
