import type { Database } from '../../src/db/database';
import { cancelMessages, scheduleMessages } from '../../src/delivery/outbox';
import { startWebhookSink, type SinkReply, type WebhookSink } from '../fakes/webhook-sink';
import { openMigratedDatabase } from '../support/harness';
import { outboxRows, sinkRequest } from '../support/delivery-harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

/**
 * Rows a dispatcher claimed ahead of its send slots ('claimed', its local queue) but whose sends
 * had not started: real worker processes, real PostgreSQL and Redis, a loopback webhook sink that
 * holds a "gate" message so the single send slot stays busy and the rest wait in the local queue.
 * A cancel reaches such a row before its send, and a SIGKILL returns such rows to 'scheduled'
 * (delivered once later, never 'unknown').
 */
describe('delivery: claimed but not started', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
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
  });

  const spawn = async (name: string, extra: Record<string, string> = {}): Promise<WorkerProcess> => {
    const worker = fixture.spawn(name, {
      ...fixture.serviceEnv(),
      LOG_LEVEL: 'info',
      JOBS_ENABLED: 'false',
      WEBHOOK_TARGETS: `sink=${sink.url}`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_SECRET: 'prefetch',
      // One send slot, so every row behind the held gate waits in the local queue.
      DELIVERY_CONCURRENCY: '1',
      DELIVERY_BATCH_SIZE: '20',
      DELIVERY_SEND_TIMEOUT_MS: '60000',
      ...extra,
    });
    await waitUntilStarted(worker);
    await worker.waitForLog('dispatcher', (l) => l.message === 'delivery dispatcher started');
    return worker;
  };
  const request = sinkRequest;
  const rows = (prefix: string) => outboxRows(db, prefix);
  const statusOf = async (key: string) => (await rows(key))[0]?.status;
  const deliveriesOf = (key: string) => sink.deliveries.filter((d) => d.key === key).length;
  /** Schedules a held gate first, then `count` rows behind it; resolves once those rows are all 'claimed'. */
  const gateAndQueue = async (prefix: string, count: number) => {
    held.set(`${prefix}gate`, []);
    await scheduleMessages(db, [request(`${prefix}gate`, 300)]);
    await waitFor('the sink holds the gate', () => arrived.has(`${prefix}gate`));
    await scheduleMessages(db, Array.from({ length: count }, (_, i) => request(`${prefix}q-${i}`, 100)));
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

    await waitFor('the other rows sent', async () => {
      const r = await rows(prefix);
      return r.filter((x) => x.status === 'sent').length === 6 ? r : undefined;
    }, { limitMs: 30_000 });
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
    const victim = await spawn('prefetch-victim', { DELIVERY_LEASE_MS: '3000' });
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
    const final = await waitFor('every row sent', async () => {
      const r = await rows(prefix);
      return r.every((x) => x.status === 'sent') ? r : undefined;
    }, { limitMs: 30_000 });
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
});
