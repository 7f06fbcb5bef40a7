import type { Database } from '../../src/db/database';
import { createDunningJob } from '../../src/crm/dunning/dunning-job';
import { createInvoice, markInvoicePaid } from '../../src/crm/dunning/invoices';
import { convertLead, recordContactReply } from '../../src/crm/leads/lead-events';
import { createNurtureJob } from '../../src/crm/nurture/nurture-job';
import { enrollContact } from '../../src/crm/nurture/nurture';
import type { RedisClient } from '../../src/redis/redis-client';
import { runTick } from '../../src/scheduler/run-tick';
import { connectTestRedis, openMigratedDatabase, replica } from '../support/harness';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import { addContacts, addTenant, contactId } from './crm-fixtures';

const MINUTE = 60_000;
const DAY = 86_400_000;

describe('nurture sequences and dunning', () => {
  let testDb: TestDatabase;
  let db: Database;
  let redis: RedisClient;
  const keys = createKeyPrefix();
  let tick = 0;
  const run = (job: ReturnType<typeof createNurtureJob>) =>
    runTick(replica('nurture-dunning-test', db, redis, keys.prefix), job, new Date(Date.UTC(2026, 0, 1, 0, 0, tick++)));
  const statusesOf = async (prefix: string) =>
    (
      await db.query<{ idempotency_key: string; status: string }>(
        `SELECT idempotency_key, status FROM scheduled_messages WHERE idempotency_key LIKE $1 ORDER BY idempotency_key`,
        [`${prefix}%`],
      )
    ).rows.map((r) => [r.idempotency_key, r.status]);

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openMigratedDatabase('postgres', testDb.url);
    redis = await connectTestRedis(TEST_REDIS_URL);
    await addTenant(db, 'shop');
    await addContacts(db, 'shop', 6);
    await db.query(`INSERT INTO nurture_sequences (id, tenant_id, name, channel) VALUES ('welcome', 'shop', 'Welcome', 'email')`);
    await db.query(`INSERT INTO nurture_steps (sequence_id, step_no, delay_minutes, subject, template) VALUES
      ('welcome', 1, 0, 'Welcome', 'Hi {{ contact.name }}, welcome!'),
      ('welcome', 2, 60, 'Tips', 'Step {{ step }} of {{ steps }}'),
      ('welcome', 3, 1440, 'Offer', 'A day later, {{ contact.name }}')`);
    await db.query(`INSERT INTO leads (id, tenant_id, contact_id) VALUES ('lead-3', 'shop', $1), ('lead-4', 'shop', $2)`, [
      contactId('shop', 3),
      contactId('shop', 4),
    ]);
  });
  afterAll(async () => {
    await redis.quit();
    await db.close();
    await keys.removeKeys();
    await testDb.drop();
  });

  it('enrolling schedules every step at enrolment + cumulative delays; enrolling twice is refused', async () => {
    const before = Date.now();
    const enrollment = await enrollContact(db, { sequenceId: 'welcome', contactId: contactId('shop', 1) });
    const rows = await db.query<{ idempotency_key: string; scheduled_at: Date; subject: string }>(
      `SELECT idempotency_key, scheduled_at, subject FROM scheduled_messages WHERE type = 'nurture' AND contact_id = $1 ORDER BY scheduled_at`,
      [contactId('shop', 1)],
    );
    expect(rows.rows.map((r) => [r.idempotency_key, r.subject])).toEqual([
      [`nurture:${enrollment.id}:1`, 'Welcome'],
      [`nurture:${enrollment.id}:2`, 'Tips'],
      [`nurture:${enrollment.id}:3`, 'Offer'],
    ]);
    const enrolledAt = new Date(enrollment.enrolled_at).getTime();
    expect(enrolledAt).toBeGreaterThanOrEqual(before - 1_000);
    expect(rows.rows.map((r) => new Date(r.scheduled_at).getTime() - enrolledAt)).toEqual([0, 60 * MINUTE, 1500 * MINUTE]);
    await expect(enrollContact(db, { sequenceId: 'welcome', contactId: contactId('shop', 1) })).rejects.toThrow('already enrolled');
    expect((await statusesOf(`nurture:${enrollment.id}:`)).length).toBe(3);
  });

  it('a reply (API) or a conversion stops the sequence: steps not yet sent are cancelled', async () => {
    const replying = await enrollContact(db, { sequenceId: 'welcome', contactId: contactId('shop', 2) });
    await db.query(`UPDATE scheduled_messages SET status = 'sent', sent_at = now() WHERE idempotency_key = $1`, [`nurture:${replying.id}:1`]);
    expect(await recordContactReply(db, contactId('shop', 2), new Date())).toEqual({ leadsUpdated: 0, nurtureStepsCancelled: 2 });
    expect(await statusesOf(`nurture:${replying.id}:`)).toEqual([
      [`nurture:${replying.id}:1`, 'sent'],
      [`nurture:${replying.id}:2`, 'cancelled'],
      [`nurture:${replying.id}:3`, 'cancelled'],
    ]);
    const converting = await enrollContact(db, { sequenceId: 'welcome', contactId: contactId('shop', 3), leadId: 'lead-3' });
    expect(await convertLead(db, 'lead-3')).toEqual({ converted: true, nurtureStepsCancelled: 3 });
    const row = await db.query(`SELECT status, stop_reason FROM nurture_enrollments WHERE id = $1`, [converting.id]);
    expect(row.rows).toEqual([{ status: 'stopped', stop_reason: 'conversion' }]);
  });

  it('nurture-sequences job stops enrolments whose contact replied outside the API and completes finished ones', async () => {
    const silent = await enrollContact(db, { sequenceId: 'welcome', contactId: contactId('shop', 4), leadId: 'lead-4' });
    const finished = await enrollContact(db, { sequenceId: 'welcome', contactId: contactId('shop', 5) });
    const inbound = await enrollContact(db, { sequenceId: 'welcome', contactId: contactId('shop', 6) });
    // The CRM recorded a reply straight in its table; the delivery engine recorded an inbound
    // message from another contact; and one enrolment's last step is past.
    await db.query(`UPDATE leads SET last_reply_at = now() + interval '1 second' WHERE id = 'lead-4'`);
    await db.query(
      `INSERT INTO contact_replies (tenant_id, contact_id, channel, body, received_at) VALUES ('shop', $1, 'email', 'stop', now() + interval '1 second')`,
      [contactId('shop', 6)],
    );
    await db.query(`UPDATE nurture_enrollments SET ends_at = now() - interval '1 minute' WHERE id = $1`, [finished.id]);
    const job = createNurtureJob({ schedule: '0 */5 * * * *' });
    expect(await run(job)).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 3 }));
    const states = await db.query(`SELECT id, status, stop_reason FROM nurture_enrollments WHERE id = ANY($1) ORDER BY id`, [
      [silent.id, finished.id, inbound.id],
    ]);
    expect(states.rows).toEqual(
      expect.arrayContaining([
        { id: silent.id, status: 'stopped', stop_reason: 'reply' },
        { id: inbound.id, status: 'stopped', stop_reason: 'reply' },
        { id: finished.id, status: 'completed', stop_reason: null },
      ]),
    );
    expect((await statusesOf(`nurture:${silent.id}:`)).every(([, s]) => s === 'cancelled')).toBe(true);
    expect(await run(job)).toEqual(expect.objectContaining({ ran: true, items: 0 }));
  });

  it('an invoice gets payment reminders carrying amount, days overdue and link; paying stops the rest and counts as recovered', async () => {
    const dueAt = new Date(Date.now() - 2 * DAY - MINUTE);
    const invoice = await createInvoice(
      db,
      { tenantId: 'shop', contactId: contactId('shop', 1), amountCents: 12_550, dueAt, paymentLink: 'https://pay.example/inv-1' },
      [1, 3, 7],
    );
    const rows = await db.query<{ idempotency_key: string; scheduled_at: Date; variables: Record<string, unknown> }>(
      `SELECT idempotency_key, scheduled_at, variables FROM scheduled_messages WHERE idempotency_key LIKE $1 ORDER BY scheduled_at`,
      [`dunning:${invoice.id}:%`],
    );
    // Day 1 has passed: one reminder now with the true days overdue; days 3 and 7 at their times.
    expect(rows.rows.map((r) => [r.idempotency_key, r.variables.daysOverdue, r.variables.amount, r.variables.paymentLink])).toEqual([
      [`dunning:${invoice.id}:1`, 2, '125.50', 'https://pay.example/inv-1'],
      [`dunning:${invoice.id}:3`, 3, '125.50', 'https://pay.example/inv-1'],
      [`dunning:${invoice.id}:7`, 7, '125.50', 'https://pay.example/inv-1'],
    ]);
    expect(new Date(rows.rows[2]!.scheduled_at).getTime()).toBe(dueAt.getTime() + 7 * DAY);

    await db.query(`UPDATE scheduled_messages SET status = 'sent', sent_at = now() WHERE idempotency_key = $1`, [`dunning:${invoice.id}:1`]);
    const paid = await markInvoicePaid(db, invoice.id);
    expect(paid.remindersCancelled).toBe(2);
    expect(paid.invoice).toEqual(expect.objectContaining({ status: 'paid', recovered_by_dunning: true }));
    expect(await statusesOf(`dunning:${invoice.id}:`)).toEqual([
      [`dunning:${invoice.id}:1`, 'sent'],
      [`dunning:${invoice.id}:3`, 'cancelled'],
      [`dunning:${invoice.id}:7`, 'cancelled'],
    ]);
    await expect(markInvoicePaid(db, invoice.id)).rejects.toThrow('is paid');
  });

  it('dunning-scheduler schedules invoices written straight to the table and closes those paid since, without recovery credit when nothing was sent', async () => {
    await db.query(
      `INSERT INTO invoices (id, tenant_id, contact_id, amount_cents, due_at, payment_link)
      VALUES ('inv-direct', 'shop', $1, 990, now() + interval '1 day', 'https://pay.example/direct')`,
      [contactId('shop', 6)],
    );
    const job = createDunningJob({ schedule: '0 */5 * * * *', days: [1, 3] });
    expect(await run(job)).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 1 }));
    expect(await statusesOf('dunning:inv-direct:')).toEqual([
      ['dunning:inv-direct:1', 'scheduled'],
      ['dunning:inv-direct:3', 'scheduled'],
    ]);
    expect(await run(job)).toEqual(expect.objectContaining({ ran: true, items: 0 }));
    await db.query(`UPDATE invoices SET status = 'paid', paid_at = now() WHERE id = 'inv-direct'`);
    expect(await run(job)).toEqual(expect.objectContaining({ ran: true, items: 1 }));
    expect(await statusesOf('dunning:inv-direct:')).toEqual([
      ['dunning:inv-direct:1', 'cancelled'],
      ['dunning:inv-direct:3', 'cancelled'],
    ]);
    const invoice = await db.query(`SELECT recovered_by_dunning, dunning_closed_at IS NOT NULL AS closed FROM invoices WHERE id = 'inv-direct'`);
    expect(invoice.rows).toEqual([{ recovered_by_dunning: false, closed: true }]);
  });
});
