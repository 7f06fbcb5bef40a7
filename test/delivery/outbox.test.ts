import type { Database } from '../../src/db/database';
import {
  IdempotencyKeyConflictError,
  WAKEUP_CHANNEL,
  ValidationError,
  cancelMessages,
  rescheduleMessage,
  scheduleMessages,
  type ScheduleRequest,
} from '../../src/delivery/outbox';
import { workerHealth } from '../../src/delivery/worker-health';
import { openScratchDatabase, type ScratchDatabase } from '../support/harness';
import { waitFor } from '../support/wait';

// The outbox contract other modules build on, on both databases the worker runs on.
describe.each(['postgres', 'pglite'] as const)('outbox contract on %s', (kind) => {
  let db: Database;
  let scratch: ScratchDatabase;

  beforeAll(async () => {
    scratch = await openScratchDatabase(kind);
    db = scratch.db;
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
  });
  afterAll(async () => {
    await scratch.close();
  });

  const request = (key: string, overrides: Partial<ScheduleRequest> = {}): ScheduleRequest => ({
    tenantId: 't1',
    contactId: 'c1',
    channel: 'email',
    recipient: 'ann@example.com',
    scheduledAt: new Date(Date.now() + 60_000),
    template: 'Hi {{ firstName }}',
    variables: { firstName: 'Ann' },
    idempotencyKey: key,
    ...overrides,
  });
  const count = async (where = 'true') => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM scheduled_messages WHERE ${where}`)).rows[0]!.n);

  it('schedules once per idempotency key and wakes listeners with the earliest due time', async () => {
    const payloads: string[] = [];
    const stop = await db.listen(WAKEUP_CHANNEL, (payload) => payloads.push(payload));
    try {
      const at = new Date(Date.now() + 5_000);
      const later = new Date(Date.now() + 60_000);
      // A repeat is the same key with the same payload (issue 10: another payload is a conflict).
      const first = await scheduleMessages(db, [request('k1', { scheduledAt: at }), request('k2', { scheduledAt: later }), request('k1', { scheduledAt: at })]);
      expect(first).toEqual(expect.objectContaining({ scheduled: 2, duplicates: 1 }));
      const again = await scheduleMessages(db, [request('k2', { scheduledAt: later })]);
      expect(again).toEqual({ scheduled: 0, duplicates: 1, ids: [] });
      await expect(scheduleMessages(db, [request('k2', { scheduledAt: later, template: 'Other text' })])).rejects.toBeInstanceOf(IdempotencyKeyConflictError);
      await waitFor('the wake-up notification', () => payloads.length >= 1, { limitMs: 10_000 });
      expect(Number(payloads[0])).toBe(Math.floor(at.getTime()));
      expect(await count(`status = 'scheduled'`)).toBe(2);
    } finally {
      await stop();
    }
  });

  it('refuses bad input naming the field and writes nothing', async () => {
    const before = await count();
    const attempts: Array<[Partial<ScheduleRequest>, string]> = [
      [{ channel: 'fax' as never }, 'channel'],
      [{ recipient: 'not-an-address' }, 'recipient'],
      [{ channel: 'sms', recipient: '0123' }, 'recipient'],
      [{ scheduledAt: new Date('nope') }, 'scheduledAt'],
      [{ template: 'Hi {{ lastName }}' }, 'variables.lastName'],
      [{ template: 'Hi {% if %}' }, 'template'],
      [{ tenantId: 'nobody' }, 'tenantId'],
    ];
    for (const [overrides, field] of attempts) {
      const error = await scheduleMessages(db, [request(`bad-${field}`, overrides)]).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
      expect((error as ValidationError).message).toContain(field);
    }
    // One bad request in a batch: the good ones are not written either.
    const batch = await scheduleMessages(db, [request('good-1'), request('bad-2', { recipient: 'x' })]).catch((e: unknown) => e);
    expect((batch as ValidationError).field).toBe('requests[1].recipient');
    expect(await count()).toBe(before);
  });

  it('cancels and reschedules only rows that are still scheduled', async () => {
    await scheduleMessages(db, [request('c1'), request('c2')]);
    await db.query(`UPDATE scheduled_messages SET status = 'sending' WHERE idempotency_key = 'c2'`);
    expect(await cancelMessages(db, ['c1', 'c2', 'missing'])).toBe(1);
    expect(await cancelMessages(db, ['c1'])).toBe(0);
    await scheduleMessages(db, [request('r1')]);
    const later = new Date(Date.now() + 3_600_000);
    expect(await rescheduleMessage(db, 'r1', later)).toBe(1);
    expect(await rescheduleMessage(db, 'c1', later)).toBe(0);
    const row = await db.query<{ due_at: Date; scheduled_at: Date }>(`SELECT due_at, scheduled_at FROM scheduled_messages WHERE idempotency_key = 'r1'`);
    expect(new Date(row.rows[0]!.scheduled_at).getTime()).toBe(later.getTime());
    expect(new Date(row.rows[0]!.due_at).getTime()).toBe(later.getTime());
  });

  it('rolls back with the caller transaction', async () => {
    const before = await count();
    await expect(
      db.transaction(async (tx) => {
        await scheduleMessages(tx, [request('tx-1')]);
        throw new Error('caller changed its mind');
      }),
    ).rejects.toThrow('caller changed its mind');
    expect(await count()).toBe(before);
  });

  it('reports worker health as unknown, running or stale from the shared heartbeat (design 000)', async () => {
    await db.query('DELETE FROM delivery_heartbeats');
    expect(await workerHealth(db, 300_000)).toEqual(expect.objectContaining({ ok: false, status: 'unknown', last_tick: null }));
    await db.query(`INSERT INTO delivery_heartbeats (instance, last_tick) VALUES ('old', now() - interval '10 minutes')`);
    expect(await workerHealth(db, 300_000)).toEqual(expect.objectContaining({ ok: false, status: 'stale' }));
    await db.query(`INSERT INTO delivery_heartbeats (instance, last_tick) VALUES ('new', now() - interval '1 minute')`);
    const health = await workerHealth(db, 300_000);
    expect(health).toEqual(expect.objectContaining({ ok: true, status: 'running' }));
    expect(Date.parse(health.checked_at) - Date.parse(health.last_tick!)).toBeGreaterThanOrEqual(60_000);
  });
});
