import { execFileSync } from 'node:child_process';
import type { Database } from '../../src/db/database';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'metrics-labels-test-key';
const ADDRESS = 'ann.lee@example.com';

/**
 * Request-supplied strategies and types never become label values: 200 messages with 200
 * different strategies (one of them an e-mail address) and 50 different types, all delivered
 * by a real worker, leave /metrics with a handful of delivery series and no trace of the text.
 */
describe('delivery metric labels of a running worker', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let db: Database;

  beforeAll(async () => {
    worker = fixture.spawn('metrics-labels', {
      ...fixture.serviceEnv(),
      LOG_LEVEL: 'info',
      JOBS_ENABLED: 'false',
      API_KEY,
      FOLLOWUP_SCHEDULES: '30m,2h',
    });
    await waitUntilStarted(worker);
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('keeps the strategy label in a closed set: series bounded, no address on /metrics', async () => {
    const strategies = [ADDRESS, '1800s', ...Array.from({ length: 198 }, (_, i) => `campaign-${i}-${Math.random().toString(36).slice(2)}`)];
    const messages = strategies.map((strategy, i) => ({
      tenantId: 't1',
      channel: 'log',
      recipient: `contact-${i}`,
      scheduledAt: new Date(Date.now() - 1_000).toISOString(),
      template: 'Hello {{ name }}',
      variables: { name: 'Ann', strategy },
      type: i % 4 === 0 ? `custom-type-${i}` : 'followup',
      idempotencyKey: `labels-${i}`,
    }));
    const response = await fetch(`http://127.0.0.1:${worker.port()}/api/followups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify({ messages }),
    });
    expect(response.status).toBe(201);
    await waitFor('all 200 messages sent', async () => {
      const result = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scheduled_messages WHERE status = 'sent'`);
      return result.rows[0]!.n === 200;
    });
    // A scrape counts everything sent before it (the exposition is kept for at most a second).
    const text = await waitFor('all 200 sends counted on /metrics', async () => {
      const body = (await worker.get('/metrics', { accept: 'text/plain' })).body;
      return sendSeries(body).reduce((sum, s) => sum + s.value, 0) === 200 ? body : undefined;
    });
    const series = sendSeries(text);
    // The closed set: the configured follow-up delay and `other` (unknown strategies).
    expect(series.map((s) => s.strategy).sort()).toEqual(['1800s', 'other']);
    expect(series.find((s) => s.strategy === '1800s')!.value).toBe(1);
    expect(series.find((s) => s.strategy === 'other')!.value).toBe(199);
    const open = (await worker.get('/metrics', { accept: 'application/openmetrics-text; version=1.0.0' })).body;
    for (const exposition of [text, open]) {
      expect(exposition).not.toContain(ADDRESS);
      expect(exposition).not.toContain('example.com');
      expect(exposition).not.toContain('campaign-');
      expect(exposition).not.toContain('custom-type');
    }
    expect(execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' }).trim()).toBe('');
  });
});

/** The crm_worker_delivery_sends_total samples of a Prometheus text. */
function sendSeries(text: string): Array<{ strategy: string; result: string; value: number }> {
  const pattern = /^crm_worker_delivery_sends_total\{channel="log",strategy="([^"]*)",result="([^"]*)"\} (\d+)$/gm;
  return [...text.matchAll(pattern)].map((m) => ({ strategy: m[1]!, result: m[2]!, value: Number(m[3]) }));
}
