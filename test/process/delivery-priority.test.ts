import type { Database } from '../../src/db/database';
import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import type { MessageClass } from '../../src/delivery/message-class';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { sinkWorkerEnv } from '../support/delivery-harness';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { reserveConnectionsForFile } from '../support/connection-budget';

// A's marketing backlog. 3,000, not more: due order would put about 2,800 of it (all but the 200
// sent before B comes due) between B's due time and B's last arrival, nearly twice the 1,500 the
// test allows, while the priority order measured here put 177 there. A larger backlog only makes
// the test wait for more sends after that point.
const BACKLOG = 3_000;

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(28);

/**
 * Priority and fairness across tenants with several real worker processes, real PostgreSQL and
 * a loopback webhook sink (issue 14, item 5). Every assertion is on the order rows reached the
 * sink (its arrival list), never on durations.
 */
describe('delivery: priority classes and fairness across tenants, three worker processes', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
  let db: Database;
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    sink = await startWebhookSink({ secret: 'priority' });
    const env = sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'priority');
    workers = [1, 2, 3].map((n) => fixture.spawn(`priority-${n}`, env));
    await Promise.all(workers.map((w) => waitUntilStarted(w)));
    await Promise.all(workers.map((w) => w.waitForLog('dispatcher started', (l) => l.message === 'delivery dispatcher started')));
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) SELECT id, id FROM unnest(ARRAY['a', 'b', 'c', 'd']) AS id`);
  });
  afterAll(async () => {
    await db?.close();
    await sink.close();
  });

  const message = (tenant: string, key: string, cls: MessageClass, scheduledAt: Date, n: number): ScheduleRequest => ({
    tenantId: tenant,
    channel: 'webhook',
    recipient: 'sink',
    scheduledAt,
    template: 'Message {{ n }}',
    variables: { n },
    class: cls,
    type: cls === 'marketing' ? 'campaign' : cls === 'transactional' ? 'appointment-reminder' : 'followup',
    idempotencyKey: key,
  });
  const arrivals = () => sink.deliveries.map((d) => d.key);
  const sentCount = async (prefix: string) =>
    Number(
      (await db.query<{ n: string }>(`SELECT count(*) AS n FROM scheduled_messages WHERE status = 'sent' AND idempotency_key LIKE $1`, [`${prefix}%`])).rows[0]!
        .n,
    );

  it("delivers tenant B's transactional and follow-up messages, due later, long before tenant A's marketing backlog drains", async () => {
    // A's backlog: due a minute ago, a millisecond apart (all of it due now).
    const past = Date.now() - 60_000;
    await scheduleMessages(
      db,
      Array.from({ length: BACKLOG }, (_, i) => message('a', `prio-a-${i}`, 'marketing', new Date(past + i), i)),
    );
    // Once A's drain is under way, B's messages come due: after every row of A's backlog.
    await waitFor('A drain started', () => arrivals().filter((k) => k.startsWith('prio-a-')).length >= 200, { limitMs: 120_000, everyMs: 20 });
    const bDue = new Date();
    const arrivedBefore = arrivals().length;
    await scheduleMessages(db, [
      ...Array.from({ length: 20 }, (_, i) => message('b', `prio-b-t-${i}`, 'transactional', bDue, i)),
      ...Array.from({ length: 20 }, (_, i) => message('b', `prio-b-f-${i}`, 'followup', bDue, i)),
    ]);
    await waitFor('B delivered', async () => (await sentCount('prio-b-')) === 40, { limitMs: 120_000, everyMs: 50 });

    const order = arrivals();
    const lastB = Math.max(...order.map((k, i) => (k.startsWith('prio-b-') ? i : -1)));
    const aBeforeLastB = order.slice(0, lastB).filter((k) => k.startsWith('prio-a-')).length;
    const aAfterBDue = order.slice(arrivedBefore, lastB).filter((k) => k.startsWith('prio-a-')).length;
    // B's last arrived while most of A's backlog was still waiting. The bound is the queue
    // mechanics, not speed: what three processes had claimed or marked before B came due (each
    // holds at most DELIVERY_BATCH_SIZE 100 + DELIVERY_MARK_AHEAD 20 + its 5 slots), plus what
    // they sent while B's scheduling statement ran; due order would put all of A's BACKLOG first.
    expect(aBeforeLastB).toBeLessThan(BACKLOG);
    expect(aAfterBDue).toBeLessThan(1_500);

    await waitFor('A drained', async () => (await sentCount('prio-a-')) === BACKLOG, { limitMs: 300_000, everyMs: 200 });
    expect(sink.duplicates).toEqual([]);
  });

  it('shares the marketing class fairly across tenants: in the first sends each tenant with a backlog has about its share', async () => {
    const past = Date.now() - 60_000;
    const start = arrivals().length;
    // Tenant A's backlog is the oldest and largest; with due order A would take every early send.
    // 1,200 is enough for that: more than the 900 sends looked at, all older than C's and D's, and
    // twice theirs. Each has more than its fair 300 of those 900 waiting, so a share is never
    // capped by a backlog running out; a larger A only adds sends to wait for after the check.
    await scheduleMessages(db, [
      ...Array.from({ length: 1_200 }, (_, i) => message('a', `fair-a-${i}`, 'marketing', new Date(past + i), i)),
      ...Array.from({ length: 600 }, (_, i) => message('c', `fair-c-${i}`, 'marketing', new Date(past + 10_000 + i), i)),
      ...Array.from({ length: 600 }, (_, i) => message('d', `fair-d-${i}`, 'marketing', new Date(past + 20_000 + i), i)),
    ]);
    await waitFor('the first 900 sent', () => arrivals().length - start >= 900, { limitMs: 120_000, everyMs: 50 });
    const first = arrivals().slice(start, start + 900);
    const share = (t: string) => first.filter((k) => k.startsWith(`fair-${t}-`)).length / first.length;
    // A third each when fair; one claim in flight at the start and three processes' queues make
    // it uneven by a few percent. Due order would give A 100 %.
    for (const t of ['a', 'c', 'd']) {
      expect(share(t)).toBeGreaterThan(0.2);
      expect(share(t)).toBeLessThan(0.47);
    }
    await waitFor('all sent', async () => (await sentCount('fair-')) === 2_400, { limitMs: 300_000, everyMs: 200 });
  });

  it('keeps due order inside a tenant and class (one process, one send slot: arrival order is send order)', async () => {
    // The single process starts while the three stop (nothing is due now: every earlier message
    // was sent); this test's messages are scheduled only once the three have exited.
    const single = fixture.spawn('priority-single', {
      ...sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'priority'),
      DELIVERY_CONCURRENCY: '1',
      DELIVERY_MARK_AHEAD: '0',
      DELIVERY_BATCH_SIZE: '50',
    });
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.waitForExit()));
    await waitUntilStarted(single);
    await single.waitForLog('dispatcher started', (l) => l.message === 'delivery dispatcher started');
    const past = Date.now() - 60_000;
    const start = arrivals().length;
    // Scheduled out of due order, two tenants and two classes interleaved.
    const requests = Array.from({ length: 400 }, (_, i) => {
      const tenant = i % 2 === 0 ? 'c' : 'd';
      const cls: MessageClass = i % 3 === 0 ? 'followup' : 'marketing';
      const dueAt = past + ((i * 7919) % 400) * 10;
      return message(tenant, `order-${tenant}-${cls}-${String(dueAt - past).padStart(5, '0')}`, cls, new Date(dueAt), i);
    });
    await scheduleMessages(db, requests);
    await waitFor('all sent', async () => (await sentCount('order-')) === 400, { limitMs: 120_000, everyMs: 100 });
    const sent = arrivals().slice(start);
    for (const group of ['order-c-followup-', 'order-c-marketing-', 'order-d-followup-', 'order-d-marketing-']) {
      const keys = sent.filter((k) => k.startsWith(group));
      expect(keys.length).toBeGreaterThan(0);
      expect(keys).toEqual([...keys].sort());
    }
    // Follow-ups before marketing: every follow-up arrived before the last marketing message.
    const lastFollowup = Math.max(...sent.map((k, i) => (k.includes('-followup-') ? i : -1)));
    expect(sent.slice(0, lastFollowup).filter((k) => k.includes('-marketing-')).length).toBeLessThan(100);
  });
});
