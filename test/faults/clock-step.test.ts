import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Database } from '../../src/db/database';
import { scheduleMessages } from '../../src/delivery/outbox';
import { startWebhookSink, type SinkReply, type WebhookSink } from '../fakes/webhook-sink';
import { outboxRows, sinkRequest, sinkWorkerEnv } from '../support/delivery-harness';
import { stepClock, steppableClockEnv } from '../support/faketime';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const LEASE_MS = 12_000;
const DEAD_ROWS = 3;
const LIVE_ROWS = 20;
const canStep = steppableClockEnv(path.join(os.tmpdir(), 'crm-worker-probe-faketime')) !== undefined;

/**
 * Issue 11 item 5: a worker whose wall clock is stepped back by an hour while it runs (libfaketime
 * reading its offset from a file). Its heartbeat, listener check and lease sweep are intervals and
 * must go on (a dead peer's rows are recovered); the times it stores come from the database's
 * clock (sent_at never before scheduled_at).
 */
(canStep ? describe : describe.skip)('fault injection: a worker clock stepped back by an hour', () => {
  const fixture = useProcessFixture();
  const clockFile = path.join(os.tmpdir(), `crm-worker-faketime-${process.pid}-${Date.now()}`);
  let sink: WebhookSink;
  let db: Database;
  let hang = true;

  beforeAll(async () => {
    sink = await startWebhookSink({ secret: 'step' });
    sink.respond((): SinkReply => (hang ? { hang: true } : { status: 200 }));
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one') ON CONFLICT DO NOTHING`);
  });
  afterAll(async () => {
    await db?.close();
    await sink?.close();
    fs.rmSync(clockFile, { force: true });
  });

  const spawn = async (name: string, extra: Record<string, string> = {}): Promise<WorkerProcess> => {
    const worker = fixture.spawn(name, {
      ...sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'step'),
      DELIVERY_LEASE_MS: String(LEASE_MS),
      DELIVERY_SEND_TIMEOUT_MS: '5000',
      DELIVERY_CONCURRENCY: '2',
      ...extra,
    });
    await waitUntilStarted(worker);
    await worker.waitForLog('dispatcher', (l) => l.message === 'delivery dispatcher started');
    return worker;
  };

  it("recovers a dead peer's rows and stamps sent_at on the database clock", async () => {
    // The peer takes rows, its sends hang at the sink, and it is killed: its leases must expire
    // and be swept by the surviving worker.
    const peer = await spawn('peer');
    await scheduleMessages(
      db,
      Array.from({ length: DEAD_ROWS }, (_, i) => sinkRequest(`dead-${i}`, 100)),
    );
    await waitFor('the peer holds its rows', async () => {
      const rows = await outboxRows(db, 'dead-');
      return rows.length === DEAD_ROWS && rows.every((r) => r.status === 'sending' || r.status === 'claimed');
    });
    peer.kill('SIGKILL');
    await peer.waitForExit();
    hang = false;

    const survivor = await spawn('stepped', steppableClockEnv(clockFile, '+0'));
    // Let its heartbeat and sweep run once on the true clock, then step it back an hour.
    await waitFor('the survivor heartbeat', async () => {
      const beat = await db.query(`SELECT 1 FROM delivery_heartbeats WHERE instance = 'stepped'`);
      return beat.rowCount === 1;
    });
    stepClock(clockFile, '-1h');

    // Rows scheduled after the step are sent by the stepped worker.
    await scheduleMessages(
      db,
      Array.from({ length: LIVE_ROWS }, (_, i) => sinkRequest(`live-${i}`, 200 + i * 20)),
    );

    // The limit only stops a broken run: several lease lengths, far below the one-hour step.
    await waitFor(
      "the dead peer's rows recovered and every row sent",
      async () => {
        const rows = [...(await outboxRows(db, 'dead-')), ...(await outboxRows(db, 'live-'))];
        return rows.length === DEAD_ROWS + LIVE_ROWS && rows.every((r) => r.status === 'sent');
      },
      { limitMs: 5 * LEASE_MS },
    );

    const stamped = await db.query<{ key: string; early_ms: string }>(
      `SELECT idempotency_key AS key, extract(epoch FROM (scheduled_at - sent_at)) * 1000 AS early_ms
         FROM scheduled_messages WHERE sent_at < scheduled_at`,
    );
    expect(stamped.rows).toEqual([]);
    const farFromNow = await db.query(`SELECT idempotency_key FROM scheduled_messages WHERE sent_at < now() - interval '10 minutes'`);
    expect(farFromNow.rows).toEqual([]);

    // Each message delivered once under its key; the dead peer's sends never reached a 2xx.
    const keys = sink.deliveries.map((d) => d.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.filter((k) => k.startsWith('dead-')).sort()).toEqual(Array.from({ length: DEAD_ROWS }, (_, i) => `dead-${i}`).sort());
    // The webhook timestamp the stepped worker signed with is the database's time, not an hour ago.
    const signedAt = sink.deliveries.map((d) => Number(d.headers['x-crm-timestamp']) * 1000);
    expect(signedAt.filter((t) => Math.abs(t - Date.now()) > 10 * 60_000)).toEqual([]);

    survivor.kill('SIGTERM');
    expect((await survivor.waitForExit()).code).toBe(0);
  });
});
