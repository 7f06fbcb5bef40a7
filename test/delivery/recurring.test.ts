import type { Database } from '../../src/db/database';
import { scheduleMessages, ValidationError, type ScheduleRequest } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { deliveryConfig, openDeliveryDatabase, startDispatcher, statusOf, type InProcessDispatcher } from '../support/delivery-harness';
import { waitFor } from '../support/wait';

const MINUTE_MS = 60_000;

/**
 * Recurring messages through the real dispatcher (in this process) against real PostgreSQL and
 * PGlite and a loopback webhook sink: a series whose first time is long past sends once and
 * resumes at its next slot after now (no catch-up storm), and the key it was created with
 * cancels it whichever occurrence is current.
 */
describe.each(['postgres', 'pglite'] as const)('recurring messages on %s', (kind) => {
  let db: Database;
  let closeDb: () => Promise<void>;
  let sink: WebhookSink;
  let running: InProcessDispatcher;
  let seq = 0;

  beforeAll(async () => {
    ({ db, close: closeDb } = await openDeliveryDatabase(kind));
    sink = await startWebhookSink({ secret: 'test-secret' });
    running = startDispatcher(db, deliveryConfig({ WEBHOOK_TARGETS: `sink=${sink.url}`, WEBHOOK_SECRET: 'test-secret' }));
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
    scheduledAt: new Date(Date.now() - 60 * MINUTE_MS),
    template: 'Weekly digest for {{ name }}',
    variables: { name: 'Ann' },
    idempotencyKey: `${kind}-series-${++seq}`,
    recurrenceIntervalSeconds: 60,
    ...overrides,
  });
  const seriesRows = async (key: string) =>
    (
      await db.query<Record<string, any>>(
        `SELECT id::text AS id, idempotency_key, status, scheduled_at, created_at, next_occurrence_id::text AS next_occurrence_id
         FROM scheduled_messages WHERE idempotency_key = $1 OR idempotency_key LIKE $2 ORDER BY scheduled_messages.id`,
        [key, `${key}@r%`],
      )
    ).rows;
  /** The first occurrence once it is sent and its next occurrence exists (one transaction). */
  const sentWithNext = (key: string) =>
    waitFor(
      `${key} sent with its next occurrence`,
      async () => {
        const row = await statusOf(db, key);
        return row?.status === 'sent' && row['next_occurrence_id'] ? row : undefined;
      },
      { limitMs: 20_000, everyMs: 25 },
    );
  const missedCounted = async () => (await running.metrics.missedOccurrences.get()).values.find((v) => v.labels['channel'] === 'webhook')?.value ?? 0;

  it('first time an hour ago every minute: one send now, the next after now, the 60 passed slots counted as missed', async () => {
    const missedBefore = await missedCounted();
    const req = request();
    await scheduleMessages(db, [req]);
    const first = await sentWithNext(req.idempotencyKey);

    const rows = await seriesRows(req.idempotencyKey);
    // Exactly two rows: the one sent now and one next occurrence, not a row per passed minute.
    expect(rows).toHaveLength(2);
    const next = rows[1]!;
    expect(next.id).toBe(String(first['next_occurrence_id']));
    expect(next.status).toBe('scheduled');
    const nextAt = new Date(next.scheduled_at).getTime();
    // After now on the database's clock (created_at is that transaction's now()), within one interval.
    const createdAt = new Date(next.created_at).getTime();
    expect(nextAt).toBeGreaterThan(createdAt);
    expect(nextAt).toBeLessThanOrEqual(createdAt + MINUTE_MS);
    // Still on the series' own rhythm: a whole number of intervals after the first time.
    const steps = (nextAt - req.scheduledAt.getTime()) / MINUTE_MS;
    expect(Number.isInteger(steps)).toBe(true);
    expect(next.idempotency_key).toBe(`${req.idempotencyKey}@r${Math.floor(nextAt / 1000)}`);
    expect(sink.deliveries.filter((d) => d.key.startsWith(req.idempotencyKey))).toHaveLength(1);
    // The slots between the first time and the next one were skipped and counted.
    expect(steps - 1).toBeGreaterThanOrEqual(60);
    expect((await missedCounted()) - missedBefore).toBe(steps - 1);
  });

  it('cancels the current occurrence by the key the series was created with', async () => {
    const req = request();
    await scheduleMessages(db, [req]);
    await sentWithNext(req.idempotencyKey);
    expect(await running.service.cancel([req.idempotencyKey])).toBe(1);
    const rows = await seriesRows(req.idempotencyKey);
    expect(rows.map((r) => r.status)).toEqual(['sent', 'cancelled']);
    // Cancelling again finds nothing left to cancel.
    expect(await running.service.cancel([req.idempotencyKey])).toBe(0);
  });

  it('a series cancelled while an occurrence is being sent does not go on after it', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const req = request({ scheduledAt: new Date(Date.now() - 1_000) });
    let arrived = false;
    sink.respond(async ({ key }) => {
      if (key === req.idempotencyKey) {
        arrived = true;
        await held;
      }
      return { status: 200 };
    });
    try {
      await scheduleMessages(db, [req]);
      await waitFor('the first occurrence at the receiver', () => arrived, { limitMs: 20_000, everyMs: 10 });
      // Nothing is scheduled yet (the occurrence is in the receiver's hands), but the series stops.
      expect(await running.service.cancel([req.idempotencyKey])).toBe(0);
    } finally {
      release();
    }
    await waitFor('the held occurrence marked sent', async () => (await statusOf(db, req.idempotencyKey))?.status === 'sent', { limitMs: 20_000 });
    const rows = await seriesRows(req.idempotencyKey);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.next_occurrence_id).toBeNull();
  });

  it('refuses an interval under a minute and a key in the occurrence form, naming the field', async () => {
    for (const [overrides, field] of [
      [{ recurrenceIntervalSeconds: 1 }, 'recurrenceIntervalSeconds'],
      [{ recurrenceIntervalSeconds: 59 }, 'recurrenceIntervalSeconds'],
      [{ idempotencyKey: `${kind}-taken@r1700000000` }, 'idempotencyKey'],
    ] as const) {
      const req = request(overrides);
      const error = await scheduleMessages(db, [req]).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
      expect(await statusOf(db, req.idempotencyKey)).toBeUndefined();
    }
  });
});
