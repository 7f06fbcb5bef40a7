import fs from 'node:fs';
import { openMigratedDatabase } from '../support/harness';
import { waitFor } from '../support/wait';
import { spawnWorker, waitUntilStarted, killAll, type WorkerProcess } from '../support/worker-process';
import { freshPgliteDir } from '../support/pglite-template';

/**
 * The embedded default (no DATABASE_URL, no REDIS_URL, nothing configured): the auto follow-up
 * rule schedules, the dispatcher is woken through PGlite's LISTEN/NOTIFY, and the log channel
 * shows the message; the metrics count it.
 */
describe('delivery in the embedded default', () => {
  const workers: WorkerProcess[] = [];
  const dataDir = freshPgliteDir('crmw-delivery-embedded-');
  afterAll(async () => {
    await killAll(workers);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends an auto follow-up through the log channel at its time', async () => {
    // The tenant is the CRM's row; the embedded database belongs to the worker once it runs, so
    // it is created before (PGlite persists to the data directory).
    const seed = await openMigratedDatabase('pglite', dataDir);
    await seed.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
    await seed.close();
    const worker = spawnWorker('embedded-delivery', {
      PGLITE_DATA_DIR: dataDir,
      API_KEY: 'embedded-delivery-key',
      LOG_LEVEL: 'info',
      FOLLOWUP_SCHEDULES: '2s',
    });
    workers.push(worker);
    await waitUntilStarted(worker);
    const api = (p: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${worker.port()}/api${p}`, {
        method: body ? 'POST' : 'GET',
        headers: { 'x-api-key': 'embedded-delivery-key', 'content-type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

    const due = Date.now() + 2_000;
    const first = await api('/followups/auto', { tenantId: 't1', leadId: 'L1', predProb: 0.9 });
    expect(first).toEqual({ status: 200, body: expect.objectContaining({ triggered: true, scheduled: 1 }) });
    const line = await worker.waitForLog('log delivery', (l) => l.message === 'message delivered to log channel', 30_000);
    expect(line).toEqual(expect.objectContaining({ recipient: 'lead:L1', body: 'Auto follow-up at +2s for lead L1' }));
    expect(Date.parse(String(line['timestamp']))).toBeGreaterThanOrEqual(due - 50);
    expect(worker.logs.find((l) => l.message === 'delivery dispatcher started')).toEqual(expect.objectContaining({ rateLimitStore: 'in-process' }));

    // The log line is written when the channel accepts; the row is marked sent right after.
    const queue = await waitFor('marked sent', async () => {
      const q = await api('/followup/queue');
      return q.body.by_status.sent === 1 ? q : undefined;
    });
    expect(queue.body.by_status).toEqual(expect.objectContaining({ sent: 1, scheduled: 0, claimed: 0, sending: 0 }));
    const metrics = await fetch(`http://127.0.0.1:${worker.port()}/metrics`, { headers: { accept: 'text/plain' } }).then((r) => r.text());
    expect(metrics).toContain('crm_worker_delivery_messages{status="sent"} 1');
    expect(metrics).toMatch(/crm_worker_delivery_sends_total\{channel="log",strategy="2s",result="sent"\} 1/);
    expect(metrics).toContain('crm_worker_delivery_lag_seconds_count{channel="log"} 1');
    const health = await api('/worker/health');
    expect(health.body).toEqual(expect.objectContaining({ ok: true, status: 'running' }));

    worker.kill('SIGTERM');
    expect((await worker.waitForExit()).code).toBe(0);
  });
});
