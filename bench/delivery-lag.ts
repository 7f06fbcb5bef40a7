/**
 * Delivery lag and backlog throughput (issue 3), not a test: one real worker process
 * (dist/main.js) on PostgreSQL sends to a no-op HTTP sink on loopback.
 *   1. 10,000 messages due over 10 s → lag (sink receive time − scheduled time) p50 / p99 / max.
 *   2. 100,000 messages due at once → messages per second until the last one arrives.
 * Run: npm run bench:delivery   (BENCH_CONCURRENCY sets DELIVERY_CONCURRENCY; BENCH_BACKLOG the backlog size)
 */
import fs from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { openMigratedDatabase } from '../test/support/harness';
import { createTestDatabase } from '../test/support/services';
import { spawnWorker, waitUntilStarted } from '../test/support/worker-process';
import { scheduleMessages, type ScheduleRequest } from '../src/delivery/outbox';
import { machineDescription, percentile } from './lib/machine';

const LAG_MESSAGES = Number(process.env.BENCH_LAG_MESSAGES ?? 10_000);
const LAG_SPREAD_MS = 10_000;
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 100_000);
const CONCURRENCY = process.env.BENCH_CONCURRENCY ?? '50';

/** A receiver that does nothing but note when each key arrived. */
async function startNoopSink() {
  const arrivals = new Map<string, number>();
  let duplicates = 0;
  const server = http.createServer((req, res) => {
    const at = Date.now();
    const key = String(req.headers['idempotency-key']);
    req.resume();
    req.on('end', () => {
      if (arrivals.has(key)) duplicates++;
      else arrivals.set(key, at);
      res.writeHead(200, { 'content-length': '2' }).end('ok');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    arrivals,
    duplicates: () => duplicates,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  process.env.CRMW_TEST_RUN ??= `bench${Date.now().toString(36)}`;
  const loadAtStart = os.loadavg();
  const testDb = await createTestDatabase();
  const sink = await startNoopSink();
  const db = await openMigratedDatabase('postgres', testDb.url);
  await db.query(`INSERT INTO tenants (id, name) VALUES ('bench', 'Bench')`);
  const worker = spawnWorker('bench-delivery', {
    DATABASE_URL: testDb.url,
    LOG_LEVEL: 'warn',
    JOBS_ENABLED: 'false',
    WEBHOOK_TARGETS: `sink=${sink.url}`,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_SECRET: 'bench',
    DELIVERY_CONCURRENCY: CONCURRENCY,
  });
  const request = (key: string, at: number): ScheduleRequest => ({
    tenantId: 'bench', channel: 'webhook', recipient: 'sink', scheduledAt: new Date(at),
    template: 'Bench message {{ n }}', variables: { n: key }, idempotencyKey: key,
  });
  try {
    await sleep(3_000); // startup and migrations (LOG_LEVEL=warn hides the started line)

    // 1. Lag: due evenly over 10 s, starting 5 s from now (scheduled ahead, as follow-ups are).
    const start = Date.now() + 5_000;
    const lagRequests = Array.from({ length: LAG_MESSAGES }, (_, i) => request(`lag-${i}`, start + Math.floor((i * LAG_SPREAD_MS) / LAG_MESSAGES)));
    await scheduleMessages(db, lagRequests);
    while (sink.arrivals.size < LAG_MESSAGES && Date.now() < start + LAG_SPREAD_MS + 120_000) await sleep(200);
    const lags = lagRequests.map((r) => (sink.arrivals.get(r.idempotencyKey) ?? NaN) - r.scheduledAt.getTime()).filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
    const early = lags.filter((l) => l < 0).length;

    // 2. Backlog: scheduled far ahead, then made due at once in one statement (and one NOTIFY).
    const far = Date.now() + 86_400_000;
    const backlog = Array.from({ length: BACKLOG }, (_, i) => request(`backlog-${i}`, far));
    for (let i = 0; i < backlog.length; i += 10_000) await scheduleMessages(db, backlog.slice(i, i + 10_000));
    const before = sink.arrivals.size;
    const dueAt = Date.now();
    await db.query(`WITH moved AS (UPDATE scheduled_messages SET scheduled_at = now(), due_at = now() WHERE status = 'scheduled' AND idempotency_key LIKE 'backlog-%' RETURNING 1)
                    SELECT count(*), pg_notify('crm_delivery_wakeup', '0') FROM moved`);
    while (sink.arrivals.size < before + BACKLOG && Date.now() < dueAt + 600_000) await sleep(100);
    const backlogMs = Math.max(...backlog.map((r) => sink.arrivals.get(r.idempotencyKey) ?? 0)) - dueAt;
    const delivered = backlog.filter((r) => sink.arrivals.has(r.idempotencyKey)).length;
    const perSecond = delivered / (backlogMs / 1000);

    const out = [
      '# Delivery lag and backlog throughput',
      '',
      'Run: `npm run bench:delivery`. One worker process (dist/main.js), PostgreSQL, webhook channel (signed POST with',
      `Idempotency-Key, keep-alive) to a no-op HTTP sink on loopback; DELIVERY_CONCURRENCY=${CONCURRENCY}. Lag is the sink's`,
      'receive time minus the message\'s scheduled time (same clock).',
      '',
      '## Machine',
      machineDescription(),
      `- load average at start: ${loadAtStart.map((l) => l.toFixed(2)).join(', ')}`,
      '',
      `## ${LAG_MESSAGES.toLocaleString('en')} messages due over 10 s`,
      '| delivered | early | lag p50 | lag p99 | lag max |',
      '|---|---|---|---|---|',
      `| ${lags.length} | ${early} | ${percentile(lags, 50)} ms | ${percentile(lags, 99)} ms | ${lags[lags.length - 1]} ms |`,
      '',
      `## ${BACKLOG.toLocaleString('en')}-message backlog due at once`,
      '| delivered | time to last | throughput | duplicates at sink |',
      '|---|---|---|---|',
      `| ${delivered} | ${(backlogMs / 1000).toFixed(1)} s | ${Math.round(perSecond)} msg/s | ${sink.duplicates()} |`,
      '',
      'Targets (issue 3, this 2-core machine): p99 lag under 100 ms; at least 5,000 msg/s on the backlog.',
      'Other work on the machine slows every figure: compare the load average above before comparing runs.',
      '',
    ].join('\n');
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'delivery.md'), out);
    process.stdout.write(out);
  } finally {
    worker.kill('SIGTERM');
    await worker.waitForExit(30_000).catch(() => worker.kill('SIGKILL'));
    await db.close();
    await sink.close();
    await testDb.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
