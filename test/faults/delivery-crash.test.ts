import type { Database } from '../../src/db/database';
import { scheduleMessages } from '../../src/delivery/outbox';
import { startWebhookSink, type SinkReply, type WebhookSink } from '../fakes/webhook-sink';
import { openMigratedDatabase } from '../support/harness';
import { outboxRows, sinkRequest, sinkWorkerEnv } from '../support/delivery-harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { reserveConnectionsForFile } from '../support/connection-budget';

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(19);

/**
 * Crashes and misbehaving providers (issue 6 §7 and §9) against real worker processes, real
 * PostgreSQL and Redis and a loopback webhook sink that deduplicates by Idempotency-Key. In every
 * case: no message is delivered twice under one key, and every row ends final (or is still due).
 */
describe('delivery under SIGKILL and provider faults', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
  let db: Database;
  let env: Record<string, string>;
  let seq = 0;
  const replies = new Map<string, (attempt: number) => SinkReply>();

  beforeAll(async () => {
    sink = await startWebhookSink();
    sink.respond(({ key, attempt }) => replies.get(key)?.(attempt) ?? { status: 200, delayMs: key.startsWith('batch-') ? 20 : 0 });
    env = {
      ...sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'faults'),
      DELIVERY_LEASE_MS: '2000',
      DELIVERY_SEND_TIMEOUT_MS: '800',
      DELIVERY_RETRY_BASE_MS: '100',
    };
  });
  afterAll(async () => {
    await db?.close();
    await sink.close();
  });

  const spawn = async (name: string): Promise<WorkerProcess> => {
    const worker = fixture.spawn(name, env);
    await waitUntilStarted(worker);
    await worker.waitForLog('dispatcher', (l) => l.message === 'delivery dispatcher started');
    return worker;
  };
  const request = sinkRequest;
  const rows = (prefix: string) => outboxRows(db, prefix);
  const allFinal = (prefix: string, count: number) =>
    waitFor(
      `${prefix} final`,
      async () => {
        const r = await rows(prefix);
        return r.length === count && r.every((x) => ['sent', 'failed', 'dead', 'skipped', 'cancelled'].includes(x.status)) ? r : undefined;
      },
      { limitMs: 90_000, everyMs: 100 },
    );
  const deliveriesOf = (key: string) => sink.deliveries.filter((d) => d.key === key).length;
  const noKeyDeliveredTwice = () => {
    const counts = new Map<string, number>();
    for (const d of sink.deliveries) counts.set(d.key, (counts.get(d.key) ?? 0) + 1);
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
  };

  let survivor: WorkerProcess;

  it('SIGKILL of a worker mid-batch: nothing lost, all rows final, no key delivered twice', async () => {
    const [w1, w2] = await Promise.all([spawn('crash-1'), spawn('crash-2')]);
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
    const count = 300;
    await scheduleMessages(
      db,
      Array.from({ length: count }, (_, i) => request(`batch-${i}`, 1_000)),
    );
    await waitFor('some delivered', () => sink.deliveries.length >= 60, { everyMs: 5 });
    w1.kill('SIGKILL');
    expect((await w1.waitForExit()).signal).toBe('SIGKILL');

    const final = await allFinal('batch-', count);
    expect(final.filter((r) => r.status !== 'sent')).toEqual([]);
    expect(new Set(sink.deliveries.filter((d) => d.key.startsWith('batch-')).map((d) => d.key)).size).toBe(count);
    noKeyDeliveredTwice();
    // A repeat at the sink happens only for a row whose outcome was unknown and was reconciled.
    const reconciled = new Set(final.filter((r) => r.resolution?.startsWith('reconciled')).map((r) => r.idempotency_key));
    expect(sink.duplicates.filter((d) => !reconciled.has(d.key))).toEqual([]);
    survivor = w2;
  });

  it('SIGKILL after the claim, while the sink holds the request: resent once under the same key', async () => {
    const key = `held-${++seq}`;
    let release = false;
    replies.set(key, () => (release ? { status: 200 } : { hang: true }));
    await scheduleMessages(db, [request(key)]);
    await waitFor('the sink holds it', () => sink.requests.some((r) => r.key === key && r.status === 'hang'));
    survivor.kill('SIGKILL');
    await survivor.waitForExit();
    release = true;
    survivor = await spawn('crash-3');

    const [row] = await allFinal(key, 1);
    expect(row!.status).toBe('sent');
    expect(row!.resolution).toMatch(/^reconciled/);
    expect(deliveriesOf(key)).toBe(1);
    noKeyDeliveredTwice();
  });

  it('SIGKILL after the provider accepted, before mark-sent: reconciled by idempotency key, not delivered twice', async () => {
    const key = `accepted-${++seq}`;
    const victim = survivor;
    sink.onDelivery((d) => {
      if (d.key === key) victim.kill('SIGKILL');
    });
    await scheduleMessages(db, [request(key)]);
    await victim.waitForExit();
    expect(deliveriesOf(key)).toBe(1);
    expect((await rows(key))[0]!.status).toBe('sending');
    survivor = await spawn('crash-4');

    const [row] = await allFinal(key, 1);
    expect(row!.status).toBe('sent');
    expect(row!.resolution).toMatch(/^reconciled/);
    expect(deliveriesOf(key)).toBe(1);
    expect(sink.duplicates.filter((d) => d.key === key).length).toBeGreaterThanOrEqual(1);
    noKeyDeliveredTwice();
  });

  it('provider slow beyond the timeout, 429 with Retry-After, 5xx, 4xx and never answering', async () => {
    const cases = {
      slow: { reply: (a: number) => (a === 1 ? { status: 200, delayMs: 1_500 } : { status: 200 }), expected: 'sent' },
      limited: { reply: (a: number) => (a === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }), expected: 'sent' },
      flaky: { reply: (a: number) => (a === 1 ? { status: 502 } : { status: 200 }), expected: 'sent' },
      rejected: { reply: () => ({ status: 422 }), expected: 'failed' },
      silent: { reply: () => ({ hang: true as const }), expected: 'dead' },
    };
    const prefix = `fault-${++seq}-`;
    for (const [name, c] of Object.entries(cases)) replies.set(prefix + name, c.reply);
    await scheduleMessages(
      db,
      Object.keys(cases).map((name) => request(prefix + name)),
    );

    const final = await allFinal(prefix, 5);
    const statuses = Object.fromEntries(final.map((r) => [r.idempotency_key.slice(prefix.length), r.status]));
    expect(statuses).toEqual(Object.fromEntries(Object.entries(cases).map(([n, c]) => [n, c.expected])));
    expect(sink.requests.filter((r) => r.key === `${prefix}rejected`)).toHaveLength(1);
    expect(sink.requests.filter((r) => r.key === `${prefix}silent`)).toHaveLength(3);
    for (const name of ['slow', 'limited', 'flaky']) expect(deliveriesOf(prefix + name)).toBe(1);
    for (const name of ['rejected', 'silent']) expect(deliveriesOf(prefix + name)).toBe(0);
    noKeyDeliveredTwice();

    survivor.kill('SIGTERM');
    expect((await survivor.waitForExit()).code).toBe(0);
    const leftovers = await db.query(`SELECT id FROM scheduled_messages WHERE status IN ('claimed', 'sending', 'unknown')`);
    expect(leftovers.rows).toEqual([]);
  });
});
