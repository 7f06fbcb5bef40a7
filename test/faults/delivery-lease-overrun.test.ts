import type { Database } from '../../src/db/database';
import { scheduleMessages } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { openMigratedDatabase } from '../support/harness';
import { outboxRows, sinkRequest, sinkWorkerEnv } from '../support/delivery-harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { reserveConnectionsForFile } from '../support/connection-budget';

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(29);

/**
 * Issue 11, item 4: rows marked 'sending' ahead of a free slot (DELIVERY_MARK_AHEAD) wait in the
 * worker while its slots are busy. With a slow receiver that wait is longer than the lease: the
 * rows must not outlive it while their worker is alive (another worker would reconcile and resend
 * them while the first still sends). Three real worker processes, real PostgreSQL and Redis, a
 * loopback sink that answers every request slowly; nobody crashes.
 */
describe('delivery: rows held longer than their lease by a live, busy worker', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
  let db: Database;
  // Each answer takes this long; with two slots and 20 rows marked ahead, the last marked row of
  // a group waits about ten answers (6 s) for its slot: longer than the 3 s lease.
  const answerMs = 600;

  beforeAll(async () => {
    sink = await startWebhookSink();
    sink.respond(() => ({ status: 200, delayMs: answerMs }));
  });
  afterAll(async () => {
    await db?.close();
    await sink.close();
  });

  const spawn = async (name: string): Promise<WorkerProcess> => {
    const worker = fixture.spawn(name, {
      ...sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'lease-overrun'),
      DELIVERY_CONCURRENCY: '2',
      DELIVERY_MARK_AHEAD: '20',
      DELIVERY_LEASE_MS: '3000',
      DELIVERY_SEND_TIMEOUT_MS: '1500',
    });
    await waitUntilStarted(worker);
    await worker.waitForLog('dispatcher', (l) => l.message === 'delivery dispatcher started');
    return worker;
  };

  it('a backlog behind a slow receiver: no key is sent while its earlier send is in flight, each delivered once, all rows sent', async () => {
    const workers = await Promise.all([spawn('overrun-1'), spawn('overrun-2'), spawn('overrun-3')]);
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
    const count = 90;
    await scheduleMessages(
      db,
      Array.from({ length: count }, (_, i) => sinkRequest(`overrun-${i}`, 300)),
    );

    const final = await waitFor(
      'every row final',
      async () => {
        const rows = await outboxRows(db, 'overrun-');
        return rows.length === count && rows.every((r) => ['sent', 'failed', 'dead', 'skipped', 'cancelled'].includes(r.status)) ? rows : undefined;
      },
      { limitMs: 120_000, everyMs: 200 },
    );

    // The sink counts a request that arrived while another with its key was still being answered.
    expect(sink.overlaps).toEqual([]);
    expect(final.filter((r) => r.status !== 'sent')).toEqual([]);
    const delivered = new Map<string, number>();
    for (const d of sink.deliveries) delivered.set(d.key, (delivered.get(d.key) ?? 0) + 1);
    expect(delivered.size).toBe(count);
    expect([...delivered.entries()].filter(([, n]) => n > 1)).toEqual([]);
    // Nobody died, so no row needed a resend: a live worker keeps the rows it holds (their leases
    // renewed), and never sends one it no longer holds. The one repeat allowed is a webhook's own
    // retry under its key after its send ran past DELIVERY_SEND_TIMEOUT_MS (the sink answers in
    // 600 ms; a loaded machine took longer in one run a year ahead): its row shows that attempt.
    const retried = new Set(final.filter((r) => r.attempts > 1).map((r) => r.idempotency_key));
    expect(sink.duplicates.filter((d) => !retried.has(d.key))).toEqual([]);
    expect(final.filter((r) => r.resolution !== null)).toEqual([]);
    for (const w of workers) w.kill('SIGTERM');
    for (const w of workers) expect((await w.waitForExit()).code).toBe(0);
  });
});
