import type { Database } from '../../src/db/database';
import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { sinkWorkerEnv } from '../support/delivery-harness';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted } from '../support/worker-process';
import { reserveConnectionsForFile } from '../support/connection-budget';

const MESSAGES = 1_000;

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(28);

describe('delivery: 1,000 messages due in the same second, three worker processes', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
  let db: Database;

  beforeAll(async () => {
    sink = await startWebhookSink({ secret: 'three-workers' });
  });
  afterAll(async () => {
    await db?.close();
    await sink.close();
  });

  it('delivers each exactly once to the webhook sink, none before its time', async () => {
    const env = sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'three-workers');
    const workers = [1, 2, 3].map((n) => fixture.spawn(`delivery-${n}`, env));
    await Promise.all(workers.map((w) => waitUntilStarted(w)));
    await Promise.all(workers.map((w) => w.waitForLog('dispatcher started', (l) => l.message === 'delivery dispatcher started')));

    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
    // All due within one second, spread over its milliseconds, a few seconds from now.
    const second = Math.ceil((Date.now() + 3_000) / 1000) * 1000;
    const requests: ScheduleRequest[] = Array.from({ length: MESSAGES }, (_, i) => ({
      tenantId: 't1',
      contactId: `c${i}`,
      channel: 'webhook',
      recipient: 'sink',
      scheduledAt: new Date(second + (i % 1000)),
      template: 'Follow-up {{ n }}',
      variables: { n: i },
      idempotencyKey: `burst-${i}`,
    }));
    expect(await scheduleMessages(db, requests)).toEqual(expect.objectContaining({ scheduled: MESSAGES, duplicates: 0 }));

    await waitFor(
      'all sent',
      async () => {
        const r = await db.query<{ n: string }>(`SELECT count(*) AS n FROM scheduled_messages WHERE status = 'sent'`);
        return Number(r.rows[0]!.n) === MESSAGES;
      },
      { limitMs: 120_000, everyMs: 200 },
    );

    // Exactly once: one request per key reached the sink, no duplicate, every key there.
    expect(sink.requests).toHaveLength(MESSAGES);
    expect(sink.duplicates).toEqual([]);
    expect(sink.deliveredKeys()).toEqual(new Set(requests.map((r) => r.idempotencyKey)));
    expect(sink.deliveries.every((d) => d.signatureValid)).toBe(true);
    // Never early: each arrived at or after its own scheduled time.
    const dueOf = new Map(requests.map((r) => [r.idempotencyKey, r.scheduledAt.getTime()]));
    const early = sink.deliveries.filter((d) => d.receivedAt < dueOf.get(d.key)!);
    expect(early).toEqual([]);
    // The work was shared: several processes sent, and the rows say who.
    const by = await db.query<{ sent_by: string; n: string }>(`SELECT sent_by, count(*) AS n FROM scheduled_messages GROUP BY sent_by ORDER BY sent_by`);
    expect(by.rows.map((r) => r.sent_by).every((s) => s.startsWith('delivery-'))).toBe(true);
    expect(by.rows.length).toBeGreaterThanOrEqual(2);

    for (const w of workers) w.kill('SIGTERM');
    const exits = await Promise.all(workers.map((w) => w.waitForExit()));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
  });
});
