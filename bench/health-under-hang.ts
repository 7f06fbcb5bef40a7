/**
 * /health and /metrics under 500 requests a second while PostgreSQL hangs (issue 6).
 * A worker talks to PostgreSQL through a loopback proxy that is switched to "blackhole": the
 * database accepts nothing and answers nothing. autocannon then drives each endpoint at a fixed
 * 500 req/s for 10 s. Run: npm run bench:health
 */
import fs from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { createTestDatabase } from '../test/support/services';
import { startTcpProxy } from '../test/support/tcp-proxy';
import { spawnWorker, waitUntilStarted } from '../test/support/worker-process';
import { waitFor } from '../test/support/wait';
import { machineDescription } from './lib/machine';

const RATE = 500;
const SECONDS = 10;

async function drive(url: string, headers: Record<string, string> = {}) {
  const result = await autocannon({ url, connections: 50, overallRate: RATE, duration: SECONDS, headers });
  return {
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
  };
}

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `bench${Date.now().toString(36)}`;
  const db = await createTestDatabase();
  const pgUrl = new URL(db.url);
  const proxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  pgUrl.host = `127.0.0.1:${proxy.port}`;
  const worker = spawnWorker('bench-health', { DATABASE_URL: pgUrl.toString(), LOG_LEVEL: 'info' });
  try {
    await waitUntilStarted(worker);
    const base = `http://127.0.0.1:${worker.port()}`;
    const rows: string[] = [];
    const run = async (label: string, pathname: string, headers?: Record<string, string>) => {
      const r = await drive(base + pathname, headers);
      rows.push(`| ${label} | ${r.requests} | ${r.non2xx} | ${r.errors} | ${r.p50} | ${r.p99} | ${r.max} |`);
      return r;
    };
    await run('/health, database answering', '/health');
    proxy.setMode('blackhole');
    await waitFor('/health to notice the hang', async () => (await worker.get('/health')).status === 503);
    const hung = await run('/health, database hanging', '/health');
    const metricsJson = await run('/metrics (JSON), database hanging', '/metrics');
    const metricsProm = await run('/metrics (Prometheus), database hanging', '/metrics', { accept: 'text/plain' });
    const worstP99 = Math.max(hung.p99, metricsJson.p99, metricsProm.p99);
    const out = [
      '# /health and /metrics under 500 req/s while PostgreSQL hangs',
      '',
      machineDescription(),
      '',
      `autocannon, 50 connections, ${RATE} req/s for ${SECONDS} s per row; latencies in ms. During the hang`,
      '/health answers 503 (that is the point: it says the database is down) — non-2xx counts them.',
      '',
      '| endpoint | requests | non-2xx | errors | p50 | p99 | max |',
      '|---|---|---|---|---|---|---|',
      ...rows,
      '',
      `Target: p99 under 10 ms while a dependency hangs — ${worstP99 < 10 ? 'met' : 'MISSED'} (worst p99 ${worstP99} ms).`,
      'No peer is named for this measurement in the issue.',
      '',
    ].join('\n');
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'health-under-hang.md'), out);
    process.stdout.write(out);
  } finally {
    worker.kill('SIGKILL');
    proxy.setMode('pass');
    await proxy.close();
    await db.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
