import path from 'node:path';
import type { Database } from '../../src/db/database';
import { scheduleMessages } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { outboxRows, sinkRequest, sinkWorkerEnv } from '../support/delivery-harness';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { WORKER_MAIN, waitUntilStarted } from '../support/worker-process';

const GC_PRESSURE = path.join(__dirname, '..', 'fixtures', 'gc-pressure.js');
const SEND_TIMEOUT_MS = 500;
/** Far beyond the send deadline, so only the deadline (not the lease sweep) can end the held send. */
const LEASE_MS = 120_000;

/**
 * Issue 11 item 2: the per-send deadline was AbortSignal.any([AbortSignal.timeout(ms), ...]),
 * which never fires once the timeout signal is garbage-collected (nodejs/node#57736). A real
 * worker process under constant full GCs sends to a sink that never answers.
 */
describe('fault injection: send deadlines under garbage collection', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
  let db: Database;

  beforeAll(async () => {
    sink = await startWebhookSink();
    sink.respond(() => ({ hang: true }));
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one') ON CONFLICT DO NOTHING`);
  });
  afterAll(async () => {
    await db?.close();
    await sink?.close();
  });

  it('aborts a send to a sink that never answers at its deadline, with gc() running all the time', async () => {
    const worker = fixture.spawn(
      'gc-worker',
      {
        ...sinkWorkerEnv(fixture.serviceEnv(), sink.url, 'gc'),
        DELIVERY_SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS),
        DELIVERY_LEASE_MS: String(LEASE_MS),
        DELIVERY_CONCURRENCY: '1',
        DELIVERY_MAX_ATTEMPTS: '50',
        DELIVERY_RETRY_BASE_MS: '100',
      },
      { command: process.execPath, args: ['--expose-gc', '--require', GC_PRESSURE, WORKER_MAIN] },
    );
    await waitUntilStarted(worker);
    await scheduleMessages(db, [sinkRequest('gc-held', 100)]);
    await waitFor('the sink holds the send', () => sink.requests.some((r) => r.key === 'gc-held'));

    // The deadline ends the request: the attempt is recorded as failed and retried. The limit
    // only stops a broken run; it is a fraction of the lease, which would otherwise end it.
    const retried = await waitFor(
      'the held send aborted by its deadline and tried again',
      () => sink.requests.filter((r) => r.key === 'gc-held').length >= 3 || undefined,
      { limitMs: 30_000 },
    );
    expect(retried).toBe(true);
    const [row] = await outboxRows(db, 'gc-held');
    expect(row!.attempts).toBeGreaterThanOrEqual(2);
    const lastError = await db.query<{ last_error: string | null }>(`SELECT last_error FROM scheduled_messages WHERE idempotency_key = 'gc-held'`);
    expect(lastError.rows[0]!.last_error).toMatch(/timed out|did not answer/);
    expect(sink.deliveries).toHaveLength(0);
    worker.kill('SIGTERM');
    expect((await worker.waitForExit()).code).toBe(0);
  });
});
