/**
 * Bulk import of 100,000 contacts through POST /api/v1/contacts/import in ONE request, into a real
 * worker process (node dist/main.js) over PostgreSQL on loopback: wall time from the first byte
 * sent to the report received, and the worker's peak resident memory (VmHWM from /proc, plus RSS
 * sampled every 100 ms). Once as NDJSON and once as CSV, each in a fresh worker, each body with
 * one malformed line in the middle that the report must name while every other line is imported.
 * Run: npm run bench:contact-import   (BENCH_CONTACTS=1000000 for a larger body)
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { openMigratedDatabase } from '../test/support/harness';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL } from '../test/support/services';
import { spawnWorker, waitUntilStarted } from '../test/support/worker-process';
import { machineDescription } from './lib/machine';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const BAD_LINE = Math.floor(CONTACTS / 2);
const API_KEY = 'bench-contact-import-key-0123456789';
// A heap cap for the worker (e.g. --max-old-space-size=96) shows the import's live memory is bounded,
// not merely collected late: with the cap the same import must still finish.
const WORKER_NODE_OPTIONS = process.env.BENCH_WORKER_NODE_OPTIONS;

function memoryKb(pid: number): { rssKb: number; hwmKb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

/** The body as a stream of lines, generated as it is sent: the bench never holds it either. */
function* body(format: 'ndjson' | 'csv'): Generator<string> {
  if (format === 'csv') yield 'id,tenantId,name,email,phone,tags,consent.email\n';
  const first = format === 'csv' ? 2 : 1; // line numbers count the CSV header
  for (let i = 0; i < CONTACTS; i++) {
    const line = first + i;
    const id = `c${String(i).padStart(8, '0')}`;
    const phone = `+1415${String(i).padStart(7, '0')}`;
    if (line === BAD_LINE) yield format === 'csv' ? `${id},bench,too,many,cells,in,this,line\n` : `{"id": "${id}", "tenantId": \n`;
    else if (format === 'csv') yield `${id},bench,Contact ${i},${id}@bench.test,${phone},lead;import,true\n`;
    else
      yield `${JSON.stringify({ id, tenantId: 'bench', name: `Contact ${i}`, email: `${id}@bench.test`, phone, tags: ['lead', 'import'], consent: { email: true } })}\n`;
  }
}

function upload(port: number, format: 'ndjson' | 'csv'): Promise<{ status: number; report: any; bytes: number }> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/contacts/import',
        headers: { 'content-type': format === 'csv' ? 'text/csv' : 'application/x-ndjson', 'x-api-key': API_KEY },
      },
      (res) => {
        let text = '';
        res
          .setEncoding('utf8')
          .on('data', (c: string) => (text += c))
          .on('end', () => resolve({ status: res.statusCode ?? 0, report: JSON.parse(text), bytes }));
      },
    );
    req.on('error', reject);
    const source = Readable.from(body(format)).on('data', (line: string) => (bytes += Buffer.byteLength(line)));
    pipeline(source, req).catch(reject);
  });
}

async function runOnce(format: 'ndjson' | 'csv') {
  const db = await createTestDatabase();
  const keys = createKeyPrefix();
  const client = new Client({ connectionString: db.url });
  let worker: ReturnType<typeof spawnWorker> | undefined;
  try {
    await (await openMigratedDatabase('postgres', db.url)).close();
    await client.connect();
    await client.query(`INSERT INTO tenants (id, name, status) VALUES ('bench', 'Bench', 'active')`);
    worker = spawnWorker(`bench-import-${format}`, {
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      API_KEY,
      JOBS_ENABLED: 'false',
      DELIVERY_ENABLED: 'false',
      LOG_LEVEL: 'info',
      ...(WORKER_NODE_OPTIONS ? { NODE_OPTIONS: WORKER_NODE_OPTIONS } : {}),
    });
    await waitUntilStarted(worker);
    const pid = worker.child.pid!;
    const idle = memoryKb(pid);
    let peakSampledKb = idle.rssKb;
    const sampler = setInterval(() => (peakSampledKb = Math.max(peakSampledKb, memoryKb(pid).rssKb)), 100);
    const started = process.hrtime.bigint();
    const { status, report, bytes } = await upload(worker.port(), format);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    clearInterval(sampler);
    const final = memoryKb(pid);
    const stored = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM contacts WHERE tenant_id = 'bench'`)).rows[0]!.n);
    return {
      format,
      status,
      report,
      bytes,
      seconds,
      stored,
      idleKb: idle.rssKb,
      peakKb: Math.max(final.hwmKb, peakSampledKb),
      finalKb: final.rssKb,
      load: os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(', '),
    };
  } finally {
    worker?.kill('SIGKILL');
    await worker?.waitForExit(10_000).catch(() => undefined);
    await client.end().catch(() => undefined);
    await keys.removeKeys();
    await db.drop();
  }
}

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `bench${Date.now().toString(36)}`;
  const runs = [await runOnce('ndjson'), await runOnce('csv')];
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  const lines = [
    `# Contact import: ${CONTACTS.toLocaleString('en-US')} contacts in one request`,
    '',
    machineDescription(),
    '',
    `One worker process per format (node dist/main.js${WORKER_NODE_OPTIONS ? ` with NODE_OPTIONS=${WORKER_NODE_OPTIONS}` : ''}, JOBS_ENABLED=false, DELIVERY_ENABLED=false, PostgreSQL +`,
    'Redis on loopback), an empty contacts table. The bench streams the body as it generates it (chunked',
    'transfer, never held whole); the worker reads it line by line and upserts 1,000 rows per INSERT. Time is',
    "wall time from the first byte sent to the report received. Memory is the worker's resident set: VmHWM",
    "(the kernel's high-water mark over the process's life) and RSS sampled every 100 ms. Each body has one",
    `malformed line, number ${BAD_LINE.toLocaleString('en-US')} (NDJSON: cut-off JSON; CSV: a record with 8 cells under a 7-column header).`,
    '',
    '| measure | ' + runs.map((r) => r.format).join(' | ') + ' |',
    '|---|' + runs.map(() => '---|').join(''),
    `| HTTP status | ${runs.map((r) => r.status).join(' | ')} |`,
    `| body size | ${runs.map((r) => `${(r.bytes / 2 ** 20).toFixed(1)} MB`).join(' | ')} |`,
    `| imported / failed (report) | ${runs.map((r) => `${r.report.imported} / ${r.report.failed}`).join(' | ')} |`,
    `| rows in contacts afterwards | ${runs.map((r) => r.stored).join(' | ')} |`,
    `| failed lines reported | ${runs.map((r) => r.report.errors.map((e: any) => `line ${e.line}: ${e.errors[0].field} ${e.errors[0].message}`.slice(0, 90)).join('; ')).join(' | ')} |`,
    `| wall time | ${runs.map((r) => `${r.seconds.toFixed(1)} s (${Math.round(r.report.imported / r.seconds).toLocaleString('en-US')} contacts/s)`).join(' | ')} |`,
    `| worker RSS idle before | ${runs.map((r) => `${mb(r.idleKb)} MB`).join(' | ')} |`,
    `| worker peak RSS (max of VmHWM and samples) | ${runs.map((r) => `${mb(r.peakKb)} MB`).join(' | ')} |`,
    `| worker RSS at the end | ${runs.map((r) => `${mb(r.finalKb)} MB`).join(' | ')} |`,
    `| load average (1, 5, 15 min) at the end | ${runs.map((r) => r.load).join(' | ')} |`,
    '',
  ];
  const out = lines.join('\n');
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  // A run at another size keeps its own file, so the 100,000 figures stay the reference.
  const name = CONTACTS === 100_000 && !WORKER_NODE_OPTIONS ? 'contact-import.md' : `contact-import-${CONTACTS}${WORKER_NODE_OPTIONS ? '-capped-heap' : ''}.md`;
  fs.writeFileSync(path.join(__dirname, 'results', name), out);
  process.stdout.write(out);
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
