import type { Database } from '../../src/db/database';
import { createLeadReminderJob } from '../../src/crm/lead-reminders/lead-reminder-job';
import { recordContactReply } from '../../src/crm/leads/lead-events';
import type { RedisClient } from '../../src/redis/redis-client';
import { runTick } from '../../src/scheduler/run-tick';
import { connectTestRedis, openMigratedDatabase, replica } from '../support/harness';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import { addContacts, addTenant, contactId } from './crm-fixtures';

describe('lead-reminder-scheduler (called directly through runTick)', () => {
  let testDb: TestDatabase;
  let db: Database;
  let redis: RedisClient;
  const keys = createKeyPrefix();
  let tick = 0;
  const job = createLeadReminderJob({ schedule: '0 */60 * * * *' });
  const run = () => runTick(replica('reminders-test', db, redis, keys.prefix), job, new Date(Date.UTC(2026, 0, 1, 0, tick++)));
  /** Moves every recorded time back, as if `minutes` had passed. */
  const letTimePass = async (minutes: number) => {
    await db.query(`UPDATE leads SET created_at = created_at - make_interval(mins => $1), last_reply_at = last_reply_at - make_interval(mins => $1)`, [
      minutes,
    ]);
    await db.query(`UPDATE lead_reminders SET created_at = created_at - make_interval(mins => $1), silent_since = silent_since - make_interval(mins => $1)`, [
      minutes,
    ]);
    // Replies are recorded in contact_replies (the one door for replies, issue 10).
    await db.query(`UPDATE contact_replies SET received_at = received_at - make_interval(mins => $1)`, [minutes]);
  };
  const remindersTo = async (contact: string) =>
    (
      await db.query<{ idempotency_key: string }>(
        `SELECT idempotency_key FROM scheduled_messages WHERE type = 'lead-reminder' AND contact_id = $1 ORDER BY id`,
        [contact],
      )
    ).rows.map((r) => r.idempotency_key);

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openMigratedDatabase('postgres', testDb.url);
    redis = await connectTestRedis(TEST_REDIS_URL);
    await addTenant(db, 'on');
    await addTenant(db, 'off', { followupEnabled: false });
    await addContacts(db, 'on', 6);
    await addContacts(db, 'off', 1);
    const template = 'Hi {{ contact.name }}, still interested? (reminder {{ reminderNumber }})';
    await db.query(
      `INSERT INTO lead_reminder_settings (tenant_id, no_reply_minutes, max_reminders_per_contact, channel, subject, template)
       VALUES ('on', 60, 2, 'email', 'Following up', $1), ('off', 60, 2, 'email', 'Following up', $1)`,
      [template],
    );
    const c = (n: number) => contactId('on', n);
    await db.query(
      `INSERT INTO leads (id, tenant_id, contact_id, status, created_at, last_reply_at) VALUES
        ('silent-90m', 'on', $1, 'open', now() - interval '90 minutes', NULL),
        ('fresh', 'on', $2, 'open', now() - interval '30 minutes', NULL),
        ('replied-2h-ago', 'on', $3, 'open', now() - interval '5 hours', now() - interval '2 hours'),
        ('replied-just-now', 'on', $4, 'open', now() - interval '5 hours', now() - interval '5 minutes'),
        ('converted', 'on', $5, 'converted', now() - interval '5 hours', NULL),
        ('two-leads-a', 'on', $6, 'open', now() - interval '3 hours', NULL),
        ('two-leads-b', 'on', $6, 'open', now() - interval '2 hours', NULL),
        ('tenant-off', 'off', $7, 'open', now() - interval '5 hours', NULL)`,
      [c(1), c(2), c(3), c(4), c(5), c(6), contactId('off', 1)],
    );
  });
  afterAll(async () => {
    await redis.quit();
    await db.close();
    await keys.removeKeys();
    await testDb.drop();
  });

  it('reminds silent open leads of tenants with follow-ups on, once per contact per period, through the outbox', async () => {
    const result = await run();
    expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 3 }));
    expect(await remindersTo(contactId('on', 1))).toEqual([expect.stringMatching(/^lead-reminder:silent-90m:\d+:1$/)]);
    expect(await remindersTo(contactId('on', 2))).toEqual([]); // silent 30 min < 60
    expect(await remindersTo(contactId('on', 3))).toEqual([expect.stringMatching(/^lead-reminder:replied-2h-ago:\d+:1$/)]);
    expect(await remindersTo(contactId('on', 4))).toEqual([]); // replied 5 min ago
    expect(await remindersTo(contactId('on', 5))).toEqual([]); // converted
    // Two silent leads of one contact: one reminder, not two at once.
    expect(await remindersTo(contactId('on', 6))).toHaveLength(1);
    expect(await remindersTo(contactId('off', 1))).toEqual([]); // tenant follow-ups disabled
    const message = await db.query(
      `SELECT channel, recipient, subject, status, lead_id, stop_on_reply, variables->>'reminderNumber' AS n
         FROM scheduled_messages WHERE contact_id = $1`,
      [contactId('on', 1)],
    );
    expect(message.rows).toEqual([
      { channel: 'email', recipient: 'user1@on.test', subject: 'Following up', status: 'scheduled', lead_id: 'silent-90m', stop_on_reply: true, n: '1' },
    ]);
  });

  it('never sends the same reminder twice, spaces reminders by the no-reply period, and stops at the per-contact cap', async () => {
    expect(await run()).toEqual(expect.objectContaining({ ran: true, items: 0 }));
    await letTimePass(30);
    // fresh is now 60 minutes silent; the others reminded 30 minutes ago wait for their period.
    expect(await run()).toEqual(expect.objectContaining({ ran: true, items: 1 }));
    expect(await remindersTo(contactId('on', 2))).toHaveLength(1);
    await letTimePass(31);
    const second = await run();
    // Second reminders for contacts 1 and 3, the first for contact 6's other lead, and the first
    // for contact 4, whose reply is now 66 minutes old.
    expect(second).toEqual(expect.objectContaining({ items: 4 }));
    expect(await remindersTo(contactId('on', 4))).toEqual([expect.stringMatching(/^lead-reminder:replied-just-now:\d+:1$/)]);
    expect(await remindersTo(contactId('on', 1))).toEqual([
      expect.stringMatching(/^lead-reminder:silent-90m:\d+:1$/),
      expect.stringMatching(/^lead-reminder:silent-90m:\d+:2$/),
    ]);
    expect(await remindersTo(contactId('on', 6))).toHaveLength(2);
    await letTimePass(120);
    await run();
    // Cap of 2 per contact: contacts 1, 3 and 6 get nothing more; contact 2 gets its second.
    expect(await remindersTo(contactId('on', 1))).toHaveLength(2);
    expect(await remindersTo(contactId('on', 3))).toHaveLength(2);
    expect(await remindersTo(contactId('on', 6))).toHaveLength(2);
    expect(await remindersTo(contactId('on', 2))).toHaveLength(2);
    await letTimePass(600);
    expect(await run()).toEqual(expect.objectContaining({ items: expect.any(Number) }));
    expect(await remindersTo(contactId('on', 1))).toHaveLength(2);
  });

  it('a reply starts a new silent period with a fresh cap', async () => {
    await recordContactReply(db, contactId('on', 1), new Date());
    expect(await run()).toEqual(expect.objectContaining({ ran: true }));
    expect(await remindersTo(contactId('on', 1))).toHaveLength(2);
    await letTimePass(61);
    await run();
    const keysAfterReply = await remindersTo(contactId('on', 1));
    expect(keysAfterReply).toHaveLength(3);
    expect(keysAfterReply[2]).toMatch(/^lead-reminder:silent-90m:\d+:1$/);
    expect(keysAfterReply[2]).not.toBe(keysAfterReply[0]);
  });

  it("a tenant's broken template is recorded on its reminder and does not block other tenants", async () => {
    await addTenant(db, 'broken');
    await addContacts(db, 'broken', 1);
    await db.query(`INSERT INTO lead_reminder_settings (tenant_id, no_reply_minutes, template) VALUES ('broken', 60, 'Hi {{ nosuch.variable }}')`);
    await db.query(`INSERT INTO leads (id, tenant_id, contact_id, created_at) VALUES ('broken-lead', 'broken', $1, now() - interval '2 hours')`, [
      contactId('broken', 1),
    ]);
    await addContacts(db, 'on', 1, { prefix: 'on-late-' });
    await db.query(`INSERT INTO leads (id, tenant_id, contact_id, created_at) VALUES ('late-lead', 'on', 'on-late-0000001', now() - interval '2 hours')`);
    const result = await run();
    expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
    expect(await remindersTo('on-late-0000001')).toHaveLength(1);
    expect(await remindersTo(contactId('broken', 1))).toEqual([]);
    const recorded = await db.query<{ error: string }>(`SELECT error FROM lead_reminders WHERE lead_id = 'broken-lead'`);
    expect(recorded.rows).toEqual([{ error: expect.stringContaining('"nosuch", which is missing') }]);
    // Recorded once, not retried on the next tick.
    await run();
    expect((await db.query(`SELECT 1 FROM lead_reminders WHERE lead_id = 'broken-lead'`)).rowCount).toBe(1);
  });
});
