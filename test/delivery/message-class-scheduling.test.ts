import type { Database } from '../../src/db/database';
import { FollowUpService } from '../../src/delivery/followup-service';
import { MESSAGE_CLASSES, TYPE_CLASSES, classOfType } from '../../src/delivery/message-class';
import { ValidationError, scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { openScratchDatabase, type ScratchDatabase } from '../support/harness';

/**
 * A message's class (issue 14, item 5) on both databases the worker runs on: set at scheduling
 * from the type by one mapping (src/delivery/message-class.ts, mirrored in SQL by migration
 * 0050's message_class_of for the SQL door and rows that name none), overridable by the caller
 * through either door and validated, shown in the message view.
 */
describe.each(['postgres', 'pglite'] as const)('message class on %s', (kind) => {
  let scratch: ScratchDatabase;
  let db: Database;

  beforeAll(async () => {
    scratch = await openScratchDatabase(kind);
    db = scratch.db;
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
  });
  afterAll(async () => {
    await scratch.close();
  });

  const inAnHour = new Date(Date.now() + 3_600_000);
  const request = (key: string, overrides: Partial<ScheduleRequest> = {}): ScheduleRequest => ({
    tenantId: 't1',
    channel: 'log',
    recipient: 'ops',
    scheduledAt: inAnHour,
    template: 'Hello',
    idempotencyKey: key,
    ...overrides,
  });
  const classOf = async (key: string) =>
    (await db.query<{ class: string }>(`SELECT class FROM scheduled_messages WHERE idempotency_key = $1`, [key])).rows[0]?.class;

  it("the SQL mapping is the TypeScript one, for every type crm-worker's modules use and for any other", async () => {
    const types = [...Object.keys(TYPE_CLASSES), 'my-own-type', 'constructor', 'Campaign'];
    const result = await db.query<{ type: string; class: string }>(`SELECT t AS type, message_class_of(t) AS class FROM unnest($1::text[]) AS t`, [types]);
    expect(Object.fromEntries(result.rows.map((r) => [r.type, r.class]))).toEqual(Object.fromEntries(types.map((t) => [t, classOfType(t)])));
    expect((await db.query<{ class: string }>(`SELECT message_class_of(NULL) AS class`)).rows[0]!.class).toBe(classOfType(undefined));
    expect(classOfType('appointment-reminder')).toBe('transactional');
    expect(classOfType('campaign')).toBe('marketing');
    expect(classOfType(undefined)).toBe('followup');
  });

  it('the TypeScript door sets the class from the type unless one is given, and refuses an unknown class naming the field', async () => {
    await scheduleMessages(db, [
      request('mc-appt', { type: 'appointment-reminder' }),
      request('mc-nurture', { type: 'nurture' }),
      request('mc-plain'),
      request('mc-override', { type: 'campaign', class: 'transactional' }),
    ]);
    expect(await classOf('mc-appt')).toBe('transactional');
    expect(await classOf('mc-nurture')).toBe('marketing');
    expect(await classOf('mc-plain')).toBe('followup');
    expect(await classOf('mc-override')).toBe('transactional');

    const refused = await scheduleMessages(db, [request('mc-bad', { class: 'urgent' as never })]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues).toEqual([{ field: 'class', message: `must be one of ${MESSAGE_CLASSES.join(', ')}` }]);
    expect(await classOf('mc-bad')).toBeUndefined();
  });

  it('a repeat without a class keeps its digest (a duplicate); the same key with another class is a conflict', async () => {
    expect(await scheduleMessages(db, [request('mc-plain')])).toEqual(expect.objectContaining({ scheduled: 0, duplicates: 1 }));
    await expect(scheduleMessages(db, [request('mc-plain', { class: 'marketing' })])).rejects.toThrow(/mc-plain/);
    expect(await classOf('mc-plain')).toBe('followup');
  });

  it('the SQL door takes class (validated: 22023 naming class) and defaults it from the type', async () => {
    const door = (key: string, extra: string) =>
      db.query(
        `SELECT * FROM schedule_message(tenant_id => 't1', channel => 'log', recipient => 'ops', scheduled_at => now() + interval '1 hour',
                                        template => 'Hello', idempotency_key => $1 ${extra})`,
        [key],
      );
    await door('mc-sql-dunning', `, type => 'dunning'`);
    await door('mc-sql-override', `, type => 'appointment-reminder', class => 'marketing'`);
    expect(await classOf('mc-sql-dunning')).toBe('transactional');
    expect(await classOf('mc-sql-override')).toBe('marketing');
    const refused = await door('mc-sql-bad', `, class => 'urgent'`).catch((e: unknown) => e as { code?: string; column?: string; message: string });
    expect(refused).toEqual(expect.objectContaining({ code: '22023', message: 'class: must be one of transactional, followup, marketing' }));
    expect(await classOf('mc-sql-bad')).toBeUndefined();
  });

  it('an INSERT that names no class gets its type class; the check refuses any other value', async () => {
    await db.query(
      `INSERT INTO scheduled_messages (tenant_id, channel, recipient, scheduled_at, due_at, template, type, idempotency_key)
       VALUES ('t1', 'log', 'ops', now(), now() + interval '1 hour', 'x', 'campaign', 'mc-raw')`,
    );
    expect(await classOf('mc-raw')).toBe('marketing');
    await expect(
      db.query(
        `INSERT INTO scheduled_messages (tenant_id, channel, recipient, scheduled_at, due_at, template, class, idempotency_key)
         VALUES ('t1', 'log', 'ops', now(), now() + interval '1 hour', 'x', 'urgent', 'mc-raw-bad')`,
      ),
    ).rejects.toThrow(/scheduled_messages_class_check/);
  });

  it('the message view shows the class', async () => {
    const service = new FollowUpService(db, {});
    expect(await service.get({ idempotencyKey: 'mc-override', tenantId: 't1' })).toEqual(expect.objectContaining({ type: 'campaign', class: 'transactional' }));
  });
});
