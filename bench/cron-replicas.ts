/**
 * Cron under three replicas (issue 6): a job every second for 60 s, three replicas of each
 * system on one Redis (and PostgreSQL for crm-worker); how many times did each fire time run?
 * All systems run at the same time (each on its own keys and database), so they share the
 * machine's conditions and the bench takes one window, not five; BENCH_SEQUENTIAL=1 runs them
 * one after another. Run: npm run bench:cron   (BENCH_WINDOW_MS=60000 by default)
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createClient } from '@redis/client';
import { createProbeTable } from '../test/support/probe';
import { createTestDatabase, TEST_REDIS_URL } from '../test/support/services';
import { PROBE_WORKER } from '../test/support/probe';
import { spawnWorker, waitUntilStarted } from '../test/support/worker-process';
import { machineDescription } from './lib/machine';
import { loadLine } from './lib/process-stats';

const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 60_000);
const WARMUP_MS = 4_000;

interface Tally {
  system: string;
  fireTimes: number;
  zero: number;
  one: number;
  duplicated: number;
  runs: number;
  /** A few duplicated or skipped fire times with what ran there, so a reader can check them. */
  examples: string[];
}

function tally(system: string, runs: Array<{ slot: number; replica: string; detail?: string }>, from: number, to: number): Tally {
  const perSlot = new Map<number, number>();
  const examples: string[] = [];
  for (const r of runs) if (r.slot >= from && r.slot < to) perSlot.set(r.slot, (perSlot.get(r.slot) ?? 0) + 1);
  let zero = 0;
  let one = 0;
  let duplicated = 0;
  let fireTimes = 0;
  for (let t = Math.ceil(from / 1000) * 1000; t < to; t += 1000) {
    fireTimes++;
    const n = perSlot.get(t) ?? 0;
    if (n === 0) zero++;
    else if (n === 1) one++;
    else duplicated++;
    if (n !== 1 && examples.length < 4) {
      const what = runs.filter((r) => r.slot === t).map((r) => r.detail ?? r.replica);
      examples.push(`${new Date(t).toISOString()}: ${n === 0 ? 'no run' : what.join('; ')}`);
    }
  }
  return { system, fireTimes, zero, one, duplicated, runs: [...perSlot.values()].reduce((a, b) => a + b, 0), examples };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function benchPeer(system: string, script: string, mode: string, run: string): Promise<Tally> {
  const runsKey = `crmw-bench:${run}:${system.replace(/\W+/g, '-')}`;
  const children: ChildProcess[] = [1, 2, 3].map((n) =>
    spawn(process.execPath, ['--import', 'tsx', script, mode, `replica-${n}`, runsKey, TEST_REDIS_URL], {
      env: { ...process.env, NODE_CRON_RUN: n === 1 ? 'true' : 'false' },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  // The window opens only once every replica is up (start-up under load can take seconds).
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          let out = '';
          c.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
            out += chunk;
            if (out.includes('ready')) resolve();
          });
          c.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it was ready`)));
        }),
    ),
  );
  await sleep(WARMUP_MS);
  const from = Date.now();
  await sleep(WINDOW_MS);
  const to = Date.now() - 1_000;
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
  const redis = createClient({ url: TEST_REDIS_URL });
  await redis.connect();
  const raw = await redis.lRange(runsKey, 0, -1);
  const missedReported = (await redis.lRange(`${runsKey}:missed`, 0, -1)).filter((l) => {
    const slot = Number(l.split('|')[0]);
    return slot >= from && slot < to;
  }).length;
  for await (const keys of redis.scanIterator({ MATCH: `${runsKey}*`, COUNT: 500 })) if (keys.length) await redis.del(keys);
  for await (const keys of redis.scanIterator({ MATCH: `bull:${runsKey.replace(/[^a-zA-Z0-9]/g, '_')}*`, COUNT: 500 })) {
    if (keys.length) await redis.del(keys);
  }
  await redis.quit();
  const runs = raw.map((line) => {
    const [slot, replica, id, ranAt] = line.split('|');
    const detail = `${replica}${id ? ` id ${id}` : ''}${ranAt ? ` ran at ${new Date(Number(ranAt)).toISOString()}` : ''}`;
    return { slot: Number(slot), replica: replica!, detail };
  });
  const t = tally(system, runs, from, to);
  if (missedReported > 0) t.examples.push(`node-cron itself reported ${missedReported} missed executions (execution:missed) in the window`);
  return t;
}

async function benchCrmWorker(run: string): Promise<Tally> {
  const db = await createTestDatabase();
  await createProbeTable(db.url);
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `crmw-bench:${run}:crm:`,
    PROBE_CRON: '* * * * * *',
    PROBE_HOLD_MS: '0',
    LOG_LEVEL: 'info',
  };
  const workers = [1, 2, 3].map((n) => spawnWorker(`bench-crm-${n}`, env, { script: PROBE_WORKER }));
  try {
    await Promise.all(workers.map((w) => waitUntilStarted(w)));
    await sleep(WARMUP_MS);
    const from = Date.now();
    await sleep(WINDOW_MS);
    const to = Date.now() - 1_000;
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.waitForExit()));
    // Handler executions as each process logged them (not the fence table, which cannot hold duplicates).
    const runs = workers.flatMap((w) =>
      w.logs
        .filter((l) => l.message === 'job run started' && l.job === 'probe')
        .map((l) => ({ slot: new Date(String(l.fireTime)).getTime(), replica: w.name })),
    );
    return tally('crm-worker (defaults)', runs, from, to);
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    await db.drop();
  }
}

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `bench${Date.now().toString(36)}`;
  const run = process.env.CRMW_TEST_RUN;
  const nodeCron = path.join(__dirname, 'peers', 'node-cron-replica.ts');
  const bullmq = path.join(__dirname, 'peers', 'bullmq-replica.ts');
  const load = loadLine();
  const benches: Array<() => Promise<Tally>> = [
    () => benchCrmWorker(run),
    () => benchPeer('node-cron distributed, default (NODE_CRON_RUN)', nodeCron, 'env', run),
    () => benchPeer('node-cron distributed, Redis lock released on complete', nodeCron, 'redis-release', run),
    () => benchPeer('node-cron distributed, Redis lock kept to TTL', nodeCron, 'redis-keep', run),
    () => benchPeer('BullMQ job scheduler (upsertJobScheduler)', bullmq, 'default', run),
  ];
  const sequential = process.env.BENCH_SEQUENTIAL === '1';
  const results: Tally[] = [];
  if (sequential) for (const bench of benches) results.push(await bench());
  else results.push(...(await Promise.all(benches.map((bench) => bench()))));

  const crm = results[0]!;
  const lines = [
    '# Cron under three replicas: runs per fire time',
    '',
    machineDescription(),
    load,
    '',
    `Three replicas of each system on one Redis 7 (and PostgreSQL 15 for crm-worker), a job every second,`,
    `counted over a ${WINDOW_MS / 1000} s window after a ${WARMUP_MS / 1000} s warm-up. The handler does no work.`,
    'A fire time with 0 runs was skipped; more than 1 is a duplicate run.',
    sequential ? 'The systems ran one after another.' : 'All systems ran at the same time, each on its own Redis keys (and database), sharing the machine.',
    '',
    '| system / setting | fire times | 0 runs | 1 run | >1 runs | total runs |',
    '|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.system} | ${r.fireTimes} | ${r.zero} | ${r.one} | ${r.duplicated} | ${r.runs} |`),
    '',
    `crm-worker: ${crm.duplicated} duplicated and ${crm.zero} skipped fire times.`,
    ...results.slice(1).map((r) => `- vs ${r.system}: duplicates ${crm.duplicated} vs ${r.duplicated}, skipped ${crm.zero} vs ${r.zero}.`),
    '',
    'Examples of skipped or duplicated fire times (fire time: replica, job or execution id, when it ran):',
    ...results.flatMap((r) => r.examples.map((e) => `- ${r.system} — ${e}`)),
    '',
    'Notes: the node-cron default designates one runner by environment variable, so it cannot',
    "duplicate, but nothing runs when that replica is down. The Redis coordinators follow node-cron's",
    'RunCoordinator contract (shouldRun(key, ttlMs) / onComplete(key)) with SET NX PX.',
    '',
  ];
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'cron-replicas.md'), lines.join('\n'));
  process.stdout.write(lines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
