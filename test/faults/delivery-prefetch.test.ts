import type { Database } from '../../src/db/database';
import { cancelMessages, scheduleMessages } from '../../src/delivery/outbox';
import { startSmtpSink, type SmtpSink } from '../fakes/smtp-sink';
import { startWebhookSink, type SinkReply, type WebhookSink } from '../fakes/webhook-sink';
import { openMigratedDatabase } from '../support/harness';
import { outboxRows, sinkRequest, sinkWorkerEnv } from '../support/delivery-harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

/**
 * Rows a dispatcher claimed ahead of its send slots ('claimed', its local queue) but whose sends
 * had not started: real worker processes, real PostgreSQL and Redis, a loopback webhook sink that
 * holds a "gate" message so the single send slot stays busy and the rest wait in the local queue.
 * A cancel reaches such a row before its send, and a SIGKILL returns such rows to 'scheduled'
 * (delivered once later, never 'unknown'). Rows marked 'sending' ahead of a free slot
 * (DELIVERY_MARK_AHEAD, webhook and log only) count as in flight: after a SIGKILL they are
 * unknown and resent under their key; e-mail rows are never marked ahead.
 */
describe('delivery: claimed but not started', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
  let smtp: SmtpSink;
  let db: Database;
  /** Keys the sink holds (no answer) until released, with the requests waiting on each. */
  const held = new Map<string, Array<() => void>>();
  const arrived = new Set<string>();
  const release = (key: string) => {
    for (const answer of held.get(key) ?? []) answer();
    held.delete(key);
  };

  beforeAll(async () => {
    sink = await startWebhookSink();
    smtp = await startSmtpSink();
    sink.respond(({ key }): SinkReply | Promise<SinkReply> => {
      arrived.add(key);
      const waiting = held.get(key);
      if (!waiting) return { status: 200 };
      return new Promise<SinkReply>((resolve) => waiting.push(() => resolve({ status: 200 })));
    });
  });
  afterAll(async () => {
    for (const key of [...held.keys()]) release(key);
    await db?.close();
    await sink.close();
    await smtp.close();
  });

  const spawn = async (name: string, extra: Record<string, string> = {}): Promise<WorkerProcess> => {
    const worker = fixture.spawn(name, {
      ...sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'prefetch'),
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      EMAIL_FROM: 'CRM <crm@example.com>',
      // One send slot, so every row behind the held gate waits in the local queue; nothing
      // marked ahead unless a test asks for it.
      DELIVERY_CONCURRENCY: '1',
      DELIVERY_MARK_AHEAD: '0',
      DELIVERY_BATCH_SIZE: '20',
      // The sink holds the gate longer than any test runs; the lease must be twice the timeout.
      DELIVERY_SEND_TIMEOUT_MS: '60000',
      DELIVERY_LEASE_MS: '120000',
      ...extra,
    });
    await waitUntilStarted(worker);
    await worker.waitForLog('dispatcher', (l) => l.message === 'delivery dispatcher started');
    return worker;
  };
  /**
   * The heir of the marked-ahead test, once that test has passed: the e-mail test's worker (the
   * same settings: defaults and DELIVERY_MARK_AHEAD=4), which saves starting another process
   * (seconds on a busy host). It is the only worker alive then, as a fresh one would be, and its
   * SIGTERM exit is checked at the end of the e-mail test.
   */
  let aheadHeir: WorkerProcess | undefined;
  const request = sinkRequest;
  const rows = (prefix: string) => outboxRows(db, prefix);
  const statusOf = async (key: string) => (await rows(key))[0]?.status;
  const deliveriesOf = (key: string) => sink.deliveries.filter((d) => d.key === key).length;
  /** Schedules a held gate first, then `count` rows behind it; resolves once those rows are all 'claimed'. */
  const gateAndQueue = async (prefix: string, count: number) => {
    held.set(`${prefix}gate`, []);
    await scheduleMessages(db, [request(`${prefix}gate`, 300)]);
    await waitFor('the sink holds the gate', () => arrived.has(`${prefix}gate`));
    await scheduleMessages(
      db,
      Array.from({ length: count }, (_, i) => request(`${prefix}q-${i}`, 100)),
    );
    await waitFor('the rows behind the gate are claimed', async () => {
      const queued = await rows(`${prefix}q-`);
      return queued.length === count && queued.every((r) => r.status === 'claimed') ? queued : undefined;
    });
  };

  beforeAll(async () => {
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
  });

  it('a message cancelled while claimed (send not started) is not sent; the others are, once each', async () => {
    const worker = await spawn('prefetch-cancel');
    const prefix = 'cancel-';
    await gateAndQueue(prefix, 6);
    // Nothing behind the gate was attempted yet: a claim does not count an attempt.
    expect((await rows(`${prefix}q-`)).map((r) => r.attempts)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(await cancelMessages(db, [`${prefix}q-2`])).toBe(1);
    release(`${prefix}gate`);

    await waitFor(
      'the other rows sent',
      async () => {
        const r = await rows(prefix);
        return r.filter((x) => x.status === 'sent').length === 6 ? r : undefined;
      },
      { limitMs: 30_000 },
    );
    expect(await statusOf(`${prefix}q-2`)).toBe('cancelled');
    expect(deliveriesOf(`${prefix}q-2`)).toBe(0);
    expect(sink.requests.filter((r) => r.key === `${prefix}q-2`)).toEqual([]);
    for (const i of [0, 1, 3, 4, 5]) expect(deliveriesOf(`${prefix}q-${i}`)).toBe(1);
    expect(worker.logs.some((l) => String(l.message).startsWith('claimed message not sent'))).toBe(true);
    worker.kill('SIGTERM');
    expect((await worker.waitForExit()).code).toBe(0);
  });

  it('SIGKILL while holding claimed rows: they return to scheduled and are delivered exactly once, never unknown', async () => {
    const prefix = 'kill-';
    // A short lease so the killed worker's claims run out within the test.
    const victim = await spawn('prefetch-victim', { DELIVERY_LEASE_MS: '6000', DELIVERY_SEND_TIMEOUT_MS: '3000' });
    await gateAndQueue(prefix, 8);
    victim.kill('SIGKILL');
    expect((await victim.waitForExit()).signal).toBe('SIGKILL');
    expect(await statusOf(`${prefix}gate`)).toBe('sending');
    // Held in the victim's local queue (one it held past half its lease may have been given back).
    const atKill = await rows(`${prefix}q-`);
    expect(atKill.filter((r) => r.status !== 'claimed' && r.status !== 'scheduled')).toEqual([]);
    expect(atKill.some((r) => r.status === 'claimed')).toBe(true);
    expect(atKill.map((r) => r.attempts)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    release(`${prefix}gate`);

    const heir = await spawn('prefetch-heir');
    const final = await waitFor(
      'every row sent',
      async () => {
        const r = await rows(prefix);
        return r.every((x) => x.status === 'sent') ? r : undefined;
      },
      { limitMs: 30_000 },
    );
    const byKey = new Map(final.map((r) => [r.idempotency_key, r]));
    // The gate's send had started: its outcome was unknown, resolved by resending under its key.
    expect(byKey.get(`${prefix}gate`)!.resolution).toMatch(/^reconciled/);
    for (let i = 0; i < 8; i++) {
      const row = byKey.get(`${prefix}q-${i}`)!;
      // Never unknown (no reconciliation note), one attempt, one request, one delivery.
      expect(row.resolution).toBeNull();
      expect(row.attempts).toBe(1);
      expect(sink.requests.filter((r) => r.key === `${prefix}q-${i}`)).toHaveLength(1);
      expect(deliveriesOf(`${prefix}q-${i}`)).toBe(1);
    }
    expect(heir.logs.some((l) => String(l.message).startsWith('claimed messages returned to scheduled'))).toBe(true);
    expect(heir.logs.filter((l) => String(l.message).startsWith('message outcome unknown')).map((l) => l.messageId)).toHaveLength(1);
    heir.kill('SIGTERM');
    expect((await heir.waitForExit()).code).toBe(0);
  });
  it('SIGKILL with rows marked ahead (webhook): those are unknown and resent under their key, each delivered once', async () => {
    const prefix = 'ahead-';
    const victim = await spawn('ahead-victim', { DELIVERY_LEASE_MS: '6000', DELIVERY_SEND_TIMEOUT_MS: '3000', DELIVERY_MARK_AHEAD: '2' });
    held.set(`${prefix}gate`, []);
    await scheduleMessages(db, [request(`${prefix}gate`, 300)]);
    await waitFor('the sink holds the gate', () => arrived.has(`${prefix}gate`));
    await scheduleMessages(
      db,
      Array.from({ length: 6 }, (_, i) => request(`${prefix}q-${i}`, 100)),
    );
    // The slot is busy: two rows marked ahead ('sending', attempt counted), the rest claimed.
    const atKill = await waitFor('two rows marked ahead, four claimed', async () => {
      const queued = await rows(`${prefix}q-`);
      const sending = queued.filter((r) => r.status === 'sending');
      const claimed = queued.filter((r) => r.status === 'claimed');
      return sending.length === 2 && claimed.length === 4 ? queued : undefined;
    });
    victim.kill('SIGKILL');
    expect((await victim.waitForExit()).signal).toBe('SIGKILL');
    const markedAhead = atKill.filter((r) => r.status === 'sending').map((r) => r.idempotency_key);
    expect(atKill.filter((r) => r.status === 'sending').map((r) => r.attempts)).toEqual([1, 1]);
    // None of them had reached the sink.
    for (const key of markedAhead) expect(arrived.has(key)).toBe(false);
    release(`${prefix}gate`);

    // Marking ahead on the heir changes nothing here: it is not killed, and it resends only the
    // rows that were in flight (resolution 'reconciled'); it is the e-mail test's worker next.
    const heir = await spawn('ahead-heir', { DELIVERY_MARK_AHEAD: '4' });
    const final = await waitFor(
      'every row sent',
      async () => {
        const r = await rows(prefix);
        return r.length === 7 && r.every((x) => x.status === 'sent') ? r : undefined;
      },
      { limitMs: 30_000 },
    );
    for (const row of final) {
      const wasInFlight = row.idempotency_key === `${prefix}gate` || markedAhead.includes(row.idempotency_key);
      // Marked rows (started or not) are reconciled by resending under their key; claimed ones simply return.
      if (wasInFlight) expect(row.resolution).toMatch(/^reconciled/);
      else expect(row.resolution).toBeNull();
      expect(deliveriesOf(row.idempotency_key)).toBe(1);
    }
    for (const key of markedAhead) expect(sink.requests.filter((r) => r.key === key)).toHaveLength(1);
    aheadHeir = heir;
  });

  it('e-mail rows are never marked ahead: behind a held send they stay claimed while a webhook row is marked, then go once each', async () => {
    const prefix = 'mail-';
    const worker = aheadHeir ?? (await spawn('mail-ahead', { DELIVERY_MARK_AHEAD: '4' }));
    const email = (key: string, to: string) => ({
      ...request(key, 100),
      channel: 'email' as const,
      recipient: to,
      subject: 'Hello',
      template: 'Mail {{ key }}',
    });
    const releaseGate = smtp.hold('gate@example.com');
    await scheduleMessages(db, [email(`${prefix}gate`, 'gate@example.com')]);
    await waitFor('the SMTP sink holds the gate', () => smtp.recipientsSeen.includes('gate@example.com'));
    // One claim takes a webhook row and, due with it but scheduled after it, four e-mails. The
    // webhook row is marked ahead, which shows the launch after that claim ran; the e-mails are not.
    const dueAt = new Date(Date.now() + 200);
    await scheduleMessages(db, [
      { ...request(`${prefix}hook`), scheduledAt: dueAt },
      ...Array.from({ length: 4 }, (_, i) => ({ ...email(`${prefix}q-${i}`, `q${i}@example.com`), scheduledAt: dueAt })),
    ]);
    await waitFor('the webhook row marked ahead, the e-mails claimed', async () => {
      const hook = await statusOf(`${prefix}hook`);
      const queued = await rows(`${prefix}q-`);
      return hook === 'sending' && queued.every((r) => r.status === 'claimed') ? queued : undefined;
    });
    expect((await rows(`${prefix}q-`)).map((r) => [r.status, r.attempts])).toEqual(Array(4).fill(['claimed', 0]));
    releaseGate();
    await waitFor(
      'all sent',
      async () => {
        const r = await rows(prefix);
        return r.length === 6 && r.every((x) => x.status === 'sent') ? r : undefined;
      },
      { limitMs: 30_000 },
    );
    for (let i = 0; i < 4; i++) expect(smtp.received.filter((m) => m.text?.includes(`Mail ${prefix}q-${i}`))).toHaveLength(1);
    worker.kill('SIGTERM');
    expect((await worker.waitForExit()).code).toBe(0);
  });
});
