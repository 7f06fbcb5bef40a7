/**
 * Resident memory of the worker process (issue 17, item 3), for one or more builds side by side:
 * - at rest on PostgreSQL + Redis (started, then idle for BENCH_REST_MS);
 * - through a burst of BENCH_MEMORY_BURST webhook messages already due when it starts (peak RSS
 *   sampled every 50 ms until the sink has them all, and RSS once it is idle again);
 * - the embedded default (no DATABASE_URL, no REDIS_URL) at rest on a fresh data folder, and
 *   started again on the same folder.
 * Builds: BENCH_MEMORY_BUILDS="label=/path/to/dist/main.js[#node flags],..." (default: this
 * checkout's dist/ with the flags `npm start` uses, WORKER_NODE_FLAGS below).
 * Each round runs every build in turn, the order alternating between rounds; medians of
 * BENCH_ROUNDS (3) rounds are reported with the load average at each row's start.
 * Run: npm run bench:memory   → bench/results/memory.md (BENCH_OUT names another file)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Pool } from 'pg';
import { createTestDatabase, TEST_REDIS_URL } from '../test/support/services';
import { spawnWorker, waitUntilStarted, WORKER_MAIN, WORKER_NODE_FLAGS } from '../test/support/worker-process';
import { SINK_TARGET, scheduleThroughOutbox, startNoopSink } from './lib/crm-side';
import type { scheduleMessages } from '../src/delivery/outbox';
import { machineDescription } from './lib/machine';
import { peakRssSampler, rssBytes } from './lib/process-stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BURST = Number(process.env.BENCH_MEMORY_BURST ?? 100_000);
const REST_MS = Number(process.env.BENCH_REST_MS ?? 10_000);
const MiB = 1024 * 1024;

interface Build {
  label: string;
  main: string;
  nodeFlags: string[];
}
type Measure = 'pgRest' | 'burstPeak' | 'burstRate' | 'afterBurst' | 'embeddedFresh' | 'embeddedAgain';
const MEASURES: Record<Measure, string> = {
  pgRest: 'at rest, PostgreSQL + Redis',
  burstPeak: `peak through a ${BURST.toLocaleString('en')} burst`,
  burstRate: 'the burst: messages a second (not MiB)',
  afterBurst: 'idle after the burst',
  embeddedFresh: 'embedded, at rest, fresh data folder',
  embeddedAgain: 'embedded, at rest, started again',
};

const spawnBuild = (build: Build, name: string, env: Record<string, string>) =>
  spawnWorker(name, { LOG_LEVEL: 'info', ...env }, { command: process.execPath, args: [...build.nodeFlags, build.main] });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const load1 = () => os.loadavg()[0]!.toFixed(1);

function builds(): Build[] {
  const spec = process.env.BENCH_MEMORY_BUILDS;
  if (!spec) return [{ label: 'this build', main: WORKER_MAIN, nodeFlags: [...WORKER_NODE_FLAGS] }];
  return spec.split(',').map((entry) => {
    const at = entry.indexOf('=');
    const [main, flags] = entry.slice(at + 1).split('#');
    const label = entry.slice(0, at);
    if (at < 1 || !main || !fs.existsSync(main)) throw new Error(`BENCH_MEMORY_BUILDS: ${entry}: expected label=/path/to/dist/main.js[#flags]`);
    return { label, main: path.resolve(main), nodeFlags: flags ? flags.split(' ').filter(Boolean) : [] };
  });
}

/** The scheduleMessages of the build beside `main` (its dist/delivery/outbox). */
function ownScheduler(main: string): typeof scheduleMessages {
  return (require(path.join(path.dirname(main), 'delivery', 'outbox', 'index.js')) as { scheduleMessages: typeof scheduleMessages }).scheduleMessages;
}

async function migrate(main: string, url: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const m = spawn(process.execPath, [path.join(path.dirname(main), 'db', 'migrate-cli.js')], { env: { ...process.env, DATABASE_URL: url }, stdio: 'ignore' });
    m.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited ${code}`))));
  });
}

/** Starts a worker of `build`, waits until it has started and been idle for REST_MS, returns its RSS, stops it. */
async function restingRss(build: Build, name: string, env: Record<string, string>): Promise<number> {
  const w = spawnBuild(build, name, env);
  try {
    await waitUntilStarted(w, 300_000);
    await sleep(REST_MS);
    return rssBytes(w.child.pid!);
  } finally {
    w.kill('SIGTERM');
    await w.waitForExit(60_000).catch(() => w.kill('SIGKILL'));
  }
}

async function measureBuild(build: Build, round: number): Promise<Record<Measure, { bytes: number; load: string }>> {
  const out = {} as Record<Measure, { bytes: number; load: string }>;
  const run = process.env.CRMW_TEST_RUN!;

  // PostgreSQL + Redis, at rest and through a burst.
  const db = await createTestDatabase();
  const sink = await startNoopSink(BURST, false);
  const pool = new Pool({ connectionString: db.url, max: 4 });
  pool.on('error', (err) => process.stderr.write(`[bench] idle postgres client error: ${err.message}\n`));
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `crmw-bench:${run}:memory:${round}:`,
    WEBHOOK_TARGETS: `${SINK_TARGET}=${sink.url}`,
    WEBHOOK_ALLOW_PRIVATE: 'true',
  };
  try {
    await migrate(build.main, db.url);
    let load = load1();
    out.pgRest = { bytes: await restingRss(build, `memory-rest-${round}`, env), load };

    // Through the build's own scheduling code: an older build's table has fewer columns.
    await scheduleThroughOutbox(
      pool,
      `${run}-${round}`,
      Array.from({ length: BURST }, () => Date.now()),
      ownScheduler(build.main),
    );
    load = load1();
    const w = spawnBuild(build, `memory-burst-${round}`, env);
    try {
      const sampler = peakRssSampler(() => [w.child.pid!]);
      const report = await sink.waitForAll(600_000, Date.now());
      out.burstPeak = { bytes: sampler.stop(), load };
      if (report.handled < BURST) throw new Error(`${build.label}: only ${report.handled} of ${BURST} delivered`);
      // Not bytes: messages a second between the first and the last arrival, in the same cell format.
      out.burstRate = { bytes: (BURST / ((report.lastStart! - report.firstStart!) / 1000)) * MiB, load };
      const idleLoad = load1();
      await sleep(REST_MS);
      out.afterBurst = { bytes: rssBytes(w.child.pid!), load: idleLoad };
    } finally {
      w.kill('SIGTERM');
      await w.waitForExit(60_000).catch(() => w.kill('SIGKILL'));
    }
  } finally {
    await pool.end();
    await sink.close();
    await db.drop();
  }

  // The embedded default: a fresh folder, then the same folder again.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-bench-memory-'));
  try {
    let load = load1();
    out.embeddedFresh = { bytes: await restingRss(build, `memory-embedded-${round}`, { PGLITE_DATA_DIR: dataDir }), load };
    load = load1();
    out.embeddedAgain = { bytes: await restingRss(build, `memory-embedded-again-${round}`, { PGLITE_DATA_DIR: dataDir }), load };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `bench${Date.now().toString(36)}`;
  const all = builds();
  const results = new Map<string, Record<Measure, { bytes: number; load: string }>[]>(all.map((b) => [b.label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? all : [...all].reverse();
    for (const build of order) {
      process.stderr.write(`[bench] round ${round + 1}/${ROUNDS}: ${build.label}\n`);
      results.get(build.label)!.push(await measureBuild(build, round));
    }
  }

  const lines = [
    '# Worker resident memory (RSS)',
    '',
    machineDescription(),
    `- ${ROUNDS} rounds, builds in alternating order; medians in MiB, each round's value and the 1-minute load average at its start in brackets`,
    `- at rest = started, then idle ${REST_MS / 1000} s; the burst: ${BURST.toLocaleString('en')} webhook messages due when the worker starts, delivered to a no-op sink`,
    `- builds: ${all.map((b) => `${b.label} (\`node ${[...b.nodeFlags, path.relative(process.cwd(), b.main)].join(' ')}\`)`).join('; ')}`,
    '',
    `| measure | ${all.map((b) => b.label).join(' | ')} |`,
    `|---|${all.map(() => '---:').join('|')}|`,
  ];
  for (const measure of Object.keys(MEASURES) as Measure[]) {
    const cells = all.map((b) => {
      const rows = results.get(b.label)!.map((r) => r[measure]);
      const each = rows.map((r) => `${(r.bytes / MiB).toFixed(0)} @${r.load}`).join(', ');
      return `**${(median(rows.map((r) => r.bytes)) / MiB).toFixed(0)}** (${each})`;
    });
    lines.push(`| ${MEASURES[measure]} | ${cells.join(' | ')} |`);
  }
  const out = process.env.BENCH_OUT ?? path.join(__dirname, 'results', 'memory.md');
  fs.writeFileSync(out, lines.join('\n') + '\n');
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
