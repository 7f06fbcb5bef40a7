/**
 * Expansion of a 1,000,000-recipient campaign by a real worker process (issue 4): the time from
 * the campaign's start to its last batch, and the worker's peak resident memory (VmHWM from
 * /proc, plus RSS sampled every 100 ms). Target: under 60 s and under 200 MB.
 * Run: npm run bench:campaign   (BENCH_RECIPIENTS=50000 for a quick smoke run)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { openMigratedDatabase } from '../test/support/harness';
import { OTHER_JOBS_THAN_CAMPAIGNS_OFF } from '../test/support/job-env';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL } from '../test/support/services';
import { waitFor } from '../test/support/wait';
import { spawnWorker, waitUntilStarted } from '../test/support/worker-process';
import { machineDescription } from './lib/machine';

const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 1_000_000);
const BATCH_SIZE = Number(process.env.BENCH_BATCH_SIZE ?? 10_000);

function memoryKb(pid: number): { rssKb: number; hwmKb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `bench${Date.now().toString(36)}`;
  const db = await createTestDatabase();
  const keys = createKeyPrefix();
  const client = new Client({ connectionString: db.url });
  let worker: ReturnType<typeof spawnWorker> | undefined;
  try {
    await (await openMigratedDatabase('postgres', db.url)).close();
    await client.connect();
    const seedStart = Date.now();
    await client.query(`INSERT INTO tenants (id, name, status) VALUES ('bench', 'Bench', 'active')`);
    await client.query(
      `INSERT INTO contacts (id, tenant_id, name, email)
       SELECT 'c' || lpad(g::text, 8, '0'), 'bench', 'Contact ' || g, 'c' || g || '@bench.test' FROM generate_series(1, $1::int) g`,
      [RECIPIENTS],
    );
    await client.query(`INSERT INTO contact_lists (id, tenant_id, name) VALUES ('all', 'bench', 'All')`);
    await client.query(`INSERT INTO contact_list_members (list_id, contact_id) SELECT 'all', id FROM contacts`);
    // 1 in 1,000 opted out, so the suppression check has something to find.
    await client.query(
      `INSERT INTO suppressions (tenant_id, channel, recipient) SELECT 'bench', 'email', 'c' || g || '@bench.test' FROM generate_series(1000, $1::int, 1000) g`,
      [RECIPIENTS],
    );
    await client.query('VACUUM ANALYZE');
    const seedSeconds = (Date.now() - seedStart) / 1000;

    worker = spawnWorker('bench-campaign', {
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      LOG_LEVEL: 'info',
      CAMPAIGN_CRON: '* * * * * *',
      CAMPAIGN_BATCH_SIZE: String(BATCH_SIZE),
      CAMPAIGN_BATCH_DELAY: '0',
      // Expansion alone is measured: the dispatcher would otherwise start sending meanwhile.
      DELIVERY_ENABLED: 'false',
      ...OTHER_JOBS_THAN_CAMPAIGNS_OFF,
    });
    await waitUntilStarted(worker);
    const pid = worker.child.pid!;
    const idle = memoryKb(pid);
    let peakSampledKb = idle.rssKb;
    const sampler = setInterval(() => {
      try {
        peakSampledKb = Math.max(peakSampledKb, memoryKb(pid).rssKb);
      } catch {
        // the process is gone; the final read reports it
      }
    }, 100);

    await client.query(
      `INSERT INTO campaigns (id, tenant_id, name, channel, subject, template, send_at, list_id)
       VALUES ('million', 'bench', 'Million', 'email', 'News', 'Hello {{ contact.name }}', now(), 'all')`,
    );
    const done = await waitFor(
      'the campaign to be expanded',
      async () => {
        const r = await client.query<{ seconds: number; queued: number; skipped: number; targeted: number }>(
          `SELECT extract(epoch FROM expanded_at - started_at)::float AS seconds, queued, skipped, targeted
             FROM campaigns WHERE id = 'million' AND expanded_at IS NOT NULL`,
        );
        return r.rows[0];
      },
      { limitMs: 30 * 60_000, everyMs: 250 },
    );
    clearInterval(sampler);
    const final = memoryKb(pid);
    const load = os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(', ');
    const outbox = await client.query<{ rows: number; keys: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT idempotency_key)::int AS keys FROM scheduled_messages WHERE type = 'campaign'`,
    );
    const mb = (kb: number) => (kb / 1024).toFixed(1);
    const peakMb = Math.max(final.hwmKb, peakSampledKb) / 1024;
    const lines = [
      `# Campaign expansion: ${RECIPIENTS.toLocaleString('en-US')} recipients`,
      '',
      machineDescription(),
      '',
      `One worker process (node dist/main.js, PostgreSQL + Redis on loopback), CAMPAIGN_BATCH_SIZE=${BATCH_SIZE},`,
      "CAMPAIGN_BATCH_DELAY=0, a list audience with 1 in 1,000 contacts opted out. Time is the campaign row's",
      'expanded_at − started_at (database clock: from the tick that started it to the commit of its last batch).',
      "Memory is the worker's resident set: VmHWM (kernel high-water mark over the process's life) and RSS",
      `sampled every 100 ms. Seeding the ${RECIPIENTS.toLocaleString('en-US')} contacts took ${seedSeconds.toFixed(1)} s (not counted).`,
      'The delivery dispatcher is off (DELIVERY_ENABLED=false), so no messages were sent meanwhile.',
      '',
      '| measure | value |',
      '|---|---|',
      `| recipients targeted | ${done.targeted} |`,
      `| outbox rows queued | ${done.queued} (distinct keys in scheduled_messages: ${outbox.rows[0]!.keys}, rows: ${outbox.rows[0]!.rows}) |`,
      `| skipped (opted out) | ${done.skipped} |`,
      `| expansion time | ${done.seconds.toFixed(1)} s (${Math.round(done.queued / done.seconds).toLocaleString('en-US')} rows/s) |`,
      `| worker RSS when idle before the campaign | ${mb(idle.rssKb)} MB |`,
      `| worker peak RSS (max of VmHWM and samples) | ${peakMb.toFixed(1)} MB |`,
      `| worker RSS at the end | ${mb(final.rssKb)} MB |`,
      '',
      `Load average (1, 5, 15 min) when the expansion ended: ${load} on ${os.cpus().length} cores.`,
      '',
      `Targets: under 60 s — ${done.seconds < 60 ? 'met' : 'MISSED'}; under 200 MB resident — ${peakMb < 200 ? 'met' : 'MISSED'}.`,
      '',
    ];
    const out = lines.join('\n');
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'campaign-expansion.md'), out);
    process.stdout.write(out);
  } finally {
    worker?.kill('SIGKILL');
    await worker?.waitForExit(10_000).catch(() => undefined);
    await client.end().catch(() => undefined);
    await keys.removeKeys();
    await db.drop();
  }
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
