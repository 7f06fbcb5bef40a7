import type { Database } from '../../src/db/database';
import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { deliveryConfig, openDeliveryDatabase, startDispatcher, statusOf, type InProcessDispatcher } from '../support/delivery-harness';
import { waitFor } from '../support/wait';

// The dispatcher in this process, against real PostgreSQL and PGlite and a loopback webhook sink.
describe.each(['postgres', 'pglite'] as const)('dispatcher on %s', (kind) => {
  let db: Database;
  let closeDb: () => Promise<void>;
  let sink: WebhookSink;
  let running: InProcessDispatcher;
  let seq = 0;

  beforeAll(async () => {
    ({ db, close: closeDb } = await openDeliveryDatabase(kind));
    sink = await startWebhookSink({ secret: 'test-secret' });
    running = startDispatcher(db, deliveryConfig({ WEBHOOK_TARGETS: `sink=${sink.url}`, WEBHOOK_SECRET: 'test-secret', DELIVERY_RETRY_BASE_MS: '50' }));
  });
  afterAll(async () => {
    await running.stop();
    await sink.close();
    await closeDb();
  });

  const request = (overrides: Partial<ScheduleRequest> = {}): ScheduleRequest => ({
    tenantId: 't1',
    contactId: 'c1',
    channel: 'webhook',
    recipient: 'sink',
    scheduledAt: new Date(Date.now() + 300),
    template: 'Hello {{ name }}',
    variables: { name: 'Ann' },
    idempotencyKey: `${kind}-${++seq}`,
    ...overrides,
  });
  const finalStatus = (key: string, statuses = ['sent', 'failed', 'dead', 'skipped', 'cancelled']) =>
    waitFor(
      `${key} final`,
      async () => {
        const row = await statusOf(db, key);
        return row && statuses.includes(row.status) ? row : undefined;
      },
      { limitMs: 20_000, everyMs: 25 },
    );

  it('sends a message at its time, not before, signed, rendered, with its idempotency key', async () => {
    const req = request({ scheduledAt: new Date(Date.now() + 700) });
    await scheduleMessages(db, [req]);
    const row = await finalStatus(req.idempotencyKey);
    expect(row.status).toBe('sent');
    const delivery = sink.deliveries.find((d) => d.key === req.idempotencyKey)!;
    expect(delivery.receivedAt).toBeGreaterThanOrEqual(req.scheduledAt.getTime());
    expect(delivery.body['message']).toBe('Hello Ann');
    expect(delivery.signatureValid).toBe(true);
    expect(row.sent_by).toBe('test-dispatcher');
    expect(row.attempts).toBe(1);
  });

  it('retries a 500 and sends on the next 200', async () => {
    const req = request();
    sink.respond(({ key, attempt }) => (key === req.idempotencyKey && attempt === 1 ? { status: 500 } : { status: 200 }));
    await scheduleMessages(db, [req]);
    const row = await finalStatus(req.idempotencyKey);
    expect(row.status).toBe('sent');
    expect(row.attempts).toBe(2);
    expect(sink.requests.filter((r) => r.key === req.idempotencyKey).map((r) => r.status)).toEqual([500, 200]);
  });

  it('fails a 400 at once, without retrying', async () => {
    const req = request();
    sink.respond(({ key }) => (key === req.idempotencyKey ? { status: 400, body: 'bad payload' } : { status: 200 }));
    await scheduleMessages(db, [req]);
    const row = await finalStatus(req.idempotencyKey);
    expect(row.status).toBe('failed');
    expect(row.attempts).toBe(1);
    expect(row.last_error).toContain('400');
    expect(sink.requests.filter((r) => r.key === req.idempotencyKey)).toHaveLength(1);
  });

  it('marks a message that always gets 500 dead after 3 attempts; a redrive sends it', async () => {
    const req = request();
    let healthy = false;
    sink.respond(({ key }) => (key === req.idempotencyKey && !healthy ? { status: 503 } : { status: 200 }));
    await scheduleMessages(db, [req]);
    const dead = await finalStatus(req.idempotencyKey);
    expect(dead.status).toBe('dead');
    expect(dead.attempts).toBe(3);
    expect(sink.requests.filter((r) => r.key === req.idempotencyKey)).toHaveLength(3);
    expect((await running.service.listByStatus('dead')).map((m) => m.idempotencyKey)).toContain(req.idempotencyKey);

    healthy = true;
    expect(await running.service.redrive({ ids: [String(dead.id)] })).toBe(1);
    const sent = await finalStatus(req.idempotencyKey, ['sent']);
    expect(sent.resolution).toContain('redriven');
    expect(sink.deliveries.filter((d) => d.key === req.idempotencyKey)).toHaveLength(1);
  });

  it('does not send a message cancelled just before its time', async () => {
    const req = request({ scheduledAt: new Date(Date.now() + 600) });
    const control = request({ scheduledAt: new Date(Date.now() + 900) });
    await scheduleMessages(db, [req, control]);
    await new Promise((r) => setTimeout(r, 400));
    expect(await running.service.cancel([req.idempotencyKey])).toBe(1);
    await finalStatus(control.idempotencyKey);
    expect((await statusOf(db, req.idempotencyKey))!.status).toBe('cancelled');
    expect(sink.requests.some((r) => r.key === req.idempotencyKey)).toBe(false);
  });

  it('gives a sent recurring message exactly one next occurrence', async () => {
    const req = request({ recurrenceIntervalSeconds: 3600 });
    await scheduleMessages(db, [req]);
    const row = await finalStatus(req.idempotencyKey);
    expect(row.status).toBe('sent');
    const next = await db.query(`SELECT * FROM scheduled_messages WHERE previous_occurrence_id = $1`, [row.id]);
    expect(next.rows).toHaveLength(1);
    expect(String(row.next_occurrence_id)).toBe(String(next.rows[0]!.id));
    expect(new Date(next.rows[0]!.scheduled_at as string).getTime()).toBe(req.scheduledAt.getTime() + 3_600_000);
    expect(next.rows[0]!.status).toBe('scheduled');
    // Marking the same occurrence sent again (e.g. by the CRM) does not add a second one.
    expect(await running.service.markSent({ idempotencyKey: req.idempotencyKey })).toEqual({ marked: false, nextOccurrenceId: null });
    const again = await db.query(`SELECT count(*)::int AS n FROM scheduled_messages WHERE previous_occurrence_id = $1`, [row.id]);
    expect(Number(again.rows[0]!['n'])).toBe(1);
  });

  it('marking a recurring message sent through the API creates its next occurrence in the same transaction', async () => {
    const req = request({ scheduledAt: new Date(Date.now() + 3_600_000), recurrenceIntervalSeconds: 86_400 });
    await scheduleMessages(db, [req]);
    const result = await running.service.markSent({ idempotencyKey: req.idempotencyKey, sentBy: 'ai_concierge' });
    expect(result.marked).toBe(true);
    const next = await db.query(`SELECT id::text AS id, scheduled_at FROM scheduled_messages WHERE id = $1`, [result.nextOccurrenceId]);
    expect(new Date(next.rows[0]!['scheduled_at'] as string).getTime()).toBe(req.scheduledAt.getTime() + 86_400_000);
  });

  it('checks again at send time and records why it skipped', async () => {
    await db.query(`INSERT INTO tenants (id, name, followup_enabled) VALUES ('t-off', 'Off', false) ON CONFLICT DO NOTHING`);
    await db.query(`INSERT INTO action_items (id, tenant_id) VALUES ('ai-1', 't1') ON CONFLICT DO NOTHING`);
    const disabled = request({ tenantId: 't-off' });
    const suppressed = request({ recipient: 'sink', contactId: 'c-opt' });
    const completed = request({ skipIfCompleted: true, actionItemId: 'ai-1' });
    const replied = request({ stopOnReply: true, contactId: 'c-replied' });
    const stale = request({ scheduledAt: new Date(Date.now() - 3 * 86_400_000) });
    await scheduleMessages(db, [request({ scheduledAt: new Date(Date.now() + 60_000), contactId: 'c-replied', idempotencyKey: `${kind}-answered` })]);
    await running.service.suppress({ tenantId: 't1', channel: 'webhook', recipient: 'sink-opt', reason: 'test' });
    await scheduleMessages(
      db,
      [disabled, completed, replied, stale, { ...suppressed, recipient: 'sink-opt' }].map((r) => ({
        ...r,
        scheduledAt: r === stale ? r.scheduledAt : new Date(Date.now() + 800),
      })),
    );
    await db.query(`UPDATE action_items SET completed_at = now() WHERE id = 'ai-1'`);
    await running.service.recordResponse({ idempotencyKey: `${kind}-answered`, text: 'stop please' });
    const reasons = await Promise.all([disabled, suppressed, completed, replied, stale].map(async (r) => (await finalStatus(r.idempotencyKey)).skip_reason));
    expect(reasons).toEqual(['followups_disabled', 'suppressed', 'action_item_completed', 'contact_replied', 'stale']);
    for (const r of [disabled, suppressed, completed, replied, stale]) {
      expect(sink.requests.some((q) => q.key === r.idempotencyKey)).toBe(false);
    }
  });

  it('pauses the channel on 429 with Retry-After and sends after it', async () => {
    const req = request();
    sink.respond(({ key, attempt }) => (key === req.idempotencyKey && attempt === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    await scheduleMessages(db, [req]);
    const row = await finalStatus(req.idempotencyKey);
    expect(row.status).toBe('sent');
    const attempts = sink.requests.filter((r) => r.key === req.idempotencyKey);
    expect(attempts.map((a) => a.status)).toEqual([429, 200]);
    expect(attempts[1]!.receivedAt - attempts[0]!.receivedAt).toBeGreaterThanOrEqual(1_000);
    // A rate-limit wait does not use up one of the message's attempts.
    expect(row.attempts).toBe(1);
  });
});
