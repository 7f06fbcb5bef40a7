/**
 * The fair delivery bench (issue 17 item 1): crm-worker against BullMQ and pg-boss peers whose
 * handlers do what the design's follow-up worker does (bench/lib/followup-work.ts), all sending
 * signed POSTs to one sink (bench/lib/signed-sink.ts) that checks signatures and counts per
 * idempotency key. Lag and throughput are measured at the sink, for every system alike.
 * - lag: BENCH_LAG (10,000) messages due over BENCH_LAG_SPREAD_MS (10 s) → sink arrival − due: p50, p99, max, early;
 * - burst: BENCH_BURST (100,000) messages due before the consumer starts → msg/s, peak RSS,
 *   consumer CPU per message, PostgreSQL commits per message.
 * BENCH_ROUNDS (3) rounds in alternating order; medians reported with each run's load average.
 * BENCH_SYSTEMS=crm,bullmq,pgboss and BENCH_SCENARIOS=lag,burst select. Smaller sizes or fewer
 * rounds write bench/results/delivery-fair-smoke.md, labelled as a smoke run.
 * Run: npm run bench:fair
 */
import fs from 'node:fs';
import path from 'node:path';
import { machineDescription, percentile } from './lib/machine';
import { cpuSeconds, loadLine, peakRssSampler } from './lib/process-stats';
import { preciseNow } from './lib/recorder';
import { startSignedSink } from './lib/signed-sink';
import { buildFairPeers, dueFollowUps, FAIR_CONFIGS, openFairSystem, type FairConfig } from './lib/fair-systems';
import { envInt, loadNow, median, roundOrder } from './lib/rounds';
import { workDescription } from './lib/fair-work-text';

const LAG_COUNT = envInt('BENCH_LAG', 10_000);
const LAG_SPREAD_MS = envInt('BENCH_LAG_SPREAD_MS', 10_000);
/** From the start of enqueueing to the first due time: enqueueing must be done before it. */
const LAG_LEAD_MS = envInt('BENCH_LAG_LEAD_MS', 5_000);
const LAG_DRAIN_CAP_MS = envInt('BENCH_LAG_DRAIN_CAP_MS', 15_000);
const BURST_COUNT = envInt('BENCH_BURST', 100_000);
const BURST_CAP_MS = envInt('BENCH_BURST_CAP_MS', 60_000);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const SMOKE = LAG_COUNT < 10_000 || BURST_COUNT < 100_000 || ROUNDS < 3 || LAG_SPREAD_MS !== 10_000;
const TENANT = 'fair';

type Scenario = 'lag' | 'burst';

interface LagRun {
  load: number;
  handled: number;
  complete: boolean;
  p50: number;
  p99: number;
  max: number;
  early: number;
  enqueueLate: boolean;
  duplicates: number;
  bad: number;
}
interface BurstRun {
  load: number;
  handled: number;
  complete: boolean;
  /** Messages ÷ (last sink arrival − consumer spawn): start-up included. */
  endToEnd: number;
  /** (Messages − 1) ÷ (last − first sink arrival). */
  steady: number;
  peakRss: number;
  cpuMsPerMessage: number;
  commitsPerMessage: number;
  /** Rows marked sent when the commits were read (a peer may mark well after the POST arrived). */
  marked: number;
  duplicates: number;
  bad: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForSent(count: () => Promise<number>, expected: number, capMs: number): Promise<void> {
  const until = Date.now() + capMs;
  while (Date.now() < until && (await count()) < expected) await sleep(200);
}

async function runLag(config: FairConfig, tag: string): Promise<LagRun> {
  const load = loadNow();
  const sink = await startSignedSink();
  const system = await openFairSystem(config, sink, tag, [TENANT]);
  try {
    const consumer = await system.startConsumer();
    const first = Date.now() + LAG_LEAD_MS;
    await system.enqueue(
      dueFollowUps(
        TENANT,
        tag,
        Array.from({ length: LAG_COUNT }, (_, i) => first + (i * LAG_SPREAD_MS) / LAG_COUNT),
      ),
    );
    const enqueueLate = Date.now() > first;
    const complete = await sink.waitFor(tag, LAG_COUNT, first - Date.now() + LAG_SPREAD_MS + LAG_DRAIN_CAP_MS);
    await consumer.stop();
    const g = sink.group(tag);
    const lags = [...g.lags].sort((a, b) => a - b);
    return {
      load,
      handled: g.handled,
      complete,
      p50: percentile(lags, 50),
      p99: complete ? percentile(lags, 99) : NaN,
      max: complete ? lags[lags.length - 1]! : NaN,
      early: lags.filter((l) => l < 0).length,
      enqueueLate,
      duplicates: sink.duplicates(),
      bad: sink.badSignatures(),
    };
  } finally {
    await system.cleanup();
    await sink.close();
  }
}

async function runBurst(config: FairConfig, tag: string): Promise<BurstRun> {
  const load = loadNow();
  const sink = await startSignedSink();
  const system = await openFairSystem(config, sink, tag, [TENANT]);
  try {
    const due = Date.now();
    await system.enqueue(
      dueFollowUps(
        TENANT,
        tag,
        Array.from({ length: BURST_COUNT }, () => due),
      ),
    );
    // Statistics reach pg_stat_database within about a second of a backend's commit.
    await sleep(1_500);
    const commitsBefore = await system.commits();
    const spawnedAt = preciseNow();
    const consumer = await system.startConsumer();
    const sampler = peakRssSampler(() => [consumer.pid]);
    const complete = await sink.waitFor(tag, BURST_COUNT, BURST_CAP_MS);
    const cpuMs = cpuSeconds(consumer.pid) * 1000;
    const peakRss = sampler.stop();
    // The last sends' "sent" marks may still be on their way; they are part of the work.
    await waitForSent(() => system.sentCount(), sink.group(tag).handled, 60_000);
    await consumer.stop();
    const marked = await system.sentCount();
    await sleep(1_500);
    const commits = (await system.commits()) - commitsBefore;
    const g = sink.group(tag);
    return {
      load,
      handled: g.handled,
      complete,
      endToEnd: g.lastArrival ? (g.handled / (g.lastArrival - spawnedAt)) * 1000 : NaN,
      steady: g.lastArrival && g.firstArrival && g.handled > 1 ? ((g.handled - 1) / (g.lastArrival - g.firstArrival)) * 1000 : NaN,
      peakRss,
      cpuMsPerMessage: g.handled ? cpuMs / g.handled : NaN,
      commitsPerMessage: g.handled ? commits / g.handled : NaN,
      marked,
      duplicates: sink.duplicates(),
      bad: sink.badSignatures(),
    };
  } finally {
    await system.cleanup();
    await sink.close();
  }
}

const f = (n: number, digits = 0) => (Number.isNaN(n) ? 'n/a' : n < 10 && digits === 0 ? n.toFixed(1) : n.toFixed(digits));
const loads = (runs: { load: number }[]) => runs.map((r) => r.load.toFixed(1)).join(' / ');
const count = (n: number) => Math.round(n).toLocaleString('en');

function lagTable(rows: [FairConfig, LagRun[]][]): string[] {
  const cut = `> ${LAG_DRAIN_CAP_MS / 1000} s`;
  const crmDefaults = rows.find(([c]) => c.system === 'crm' && c.settings === 'defaults')?.[1];
  const refP99 = crmDefaults ? median(crmDefaults.map((r) => r.p99)) : NaN;
  const lines = [
    `## Exact-time delivery: ${LAG_COUNT.toLocaleString('en')} follow-ups due over ${LAG_SPREAD_MS / 1000} s`,
    '',
    'Lag = arrival at the sink − due time, ms; medians over the rounds. A run that had not delivered every',
    `message ${LAG_DRAIN_CAP_MS / 1000} s after the last due time is cut off: its p99 and max are shown as "${cut}".`,
    "Ratio: this row's median p99 ÷ crm-worker defaults' (above 1: crm-worker's p99 is that many times lower).",
    '',
    '| system / settings | delivered (per round) | p50 | p99 | max | early (< 0 ms) | duplicates / bad signatures | load at start (per round) | p99 ÷ crm-worker defaults |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [config, runs] of rows) {
    const allComplete = runs.every((r) => r.complete);
    const p99 = median(runs.map((r) => (r.complete ? r.p99 : Infinity)));
    const max = median(runs.map((r) => (r.complete ? r.max : Infinity)));
    const shown = (n: number) => (Number.isFinite(n) ? f(n) : cut);
    const ratio = Number.isFinite(refP99)
      ? `${Number.isFinite(p99) ? '' : '> '}${((Number.isFinite(p99) ? p99 : LAG_DRAIN_CAP_MS) / refP99).toFixed(2)}×`
      : 'n/a';
    lines.push(
      `| ${config.label} | ${runs.map((r) => count(r.handled)).join(' / ')}${allComplete ? '' : ' (cut off)'} | ${f(median(runs.map((r) => r.p50)))} | ${shown(p99)} | ${shown(max)} | ${count(median(runs.map((r) => r.early)))} | ${runs.reduce((n, r) => n + r.duplicates, 0)} / ${runs.reduce((n, r) => n + r.bad, 0)} | ${loads(runs)} | ${ratio} |`,
    );
  }
  const late = rows.filter(([, runs]) => runs.some((r) => r.enqueueLate)).map(([c]) => c.label);
  if (late.length) lines.push('', `Warning: enqueueing ran past the first due time in some round for: ${late.join(', ')} (their lag includes it).`);
  return lines;
}

function burstTable(rows: [FairConfig, BurstRun[]][]): string[] {
  const crmDefaults = rows.find(([c]) => c.system === 'crm' && c.settings === 'defaults')?.[1];
  const ref = crmDefaults ? median(crmDefaults.map((r) => r.endToEnd)) : NaN;
  const lines = [
    `## Burst: ${BURST_COUNT.toLocaleString('en')} follow-ups due at once`,
    '',
    'Everything is enqueued (and due) before the consumer process is spawned. End-to-end msg/s = messages',
    '÷ (last arrival at the sink − consumer spawn), start-up included; steady msg/s = between the first and the last arrival.',
    "Peak RSS and CPU are the consumer process's (start-up included; Redis, PostgreSQL and the sink not counted).",
    "Commits per message: pg_stat_database.xact_commit of the run's database from consumer spawn until every",
    "delivered row is marked sent, at most 60 s more (the bench's own queries subtracted): the queue's own statements",
    'plus the handler\'s. "marked" is how many rows were marked sent by then, when fewer than were delivered.',
    `A run still going after ${BURST_CAP_MS / 1000} s is cut off (its rate is over what it delivered). Medians over the rounds.`,
    "Ratio: crm-worker defaults' end-to-end msg/s ÷ this row's (above 1: crm-worker is that many times faster).",
    '',
    '| system / settings | delivered (per round) | end-to-end msg/s | steady msg/s | peak RSS | CPU / message | commits / message | duplicates / bad signatures | load at start (per round) | crm-worker defaults ÷ this |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [config, runs] of rows) {
    const e2e = median(runs.map((r) => r.endToEnd));
    lines.push(
      `| ${config.label} | ${runs.map((r) => `${count(r.handled)}${r.marked < r.handled ? ` (marked ${count(r.marked)})` : ''}`).join(' / ')}${runs.every((r) => r.complete) ? '' : ' (cut off)'} | ${count(e2e)} | ${count(median(runs.map((r) => r.steady)))} | ${(median(runs.map((r) => r.peakRss)) / 2 ** 20).toFixed(0)} MiB | ${f(median(runs.map((r) => r.cpuMsPerMessage)), 3)} ms | ${f(median(runs.map((r) => r.commitsPerMessage)), 2)} | ${runs.reduce((n, r) => n + r.duplicates, 0)} / ${runs.reduce((n, r) => n + r.bad, 0)} | ${loads(runs)} | ${Number.isFinite(ref) ? `${(ref / e2e).toFixed(2)}×` : 'n/a'} |`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `fair${Date.now().toString(36)}`;
  const run = process.env.CRMW_TEST_RUN;
  const startLoad = loadLine();
  buildFairPeers();
  const scenarios = (process.env.BENCH_SCENARIOS ?? 'lag,burst').split(',') as Scenario[];
  const systems = new Set((process.env.BENCH_SYSTEMS ?? 'crm,bullmq,pgboss').split(','));
  const configs = FAIR_CONFIGS.filter((c) => systems.has(c.system));
  const sections: string[] = [];
  for (const scenario of scenarios) {
    const results = new Map<FairConfig, (LagRun | BurstRun)[]>(configs.map((c) => [c, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const config of roundOrder(configs, round)) {
        const tag = `${run}r${round}${config.system}${config.settings}${scenario}`;
        process.stderr.write(`[bench] ${scenario} round ${round + 1}/${ROUNDS}: ${config.label} (load ${loadNow().toFixed(2)})\n`);
        const r = scenario === 'lag' ? await runLag(config, tag) : await runBurst(config, tag);
        process.stderr.write(`[bench]   delivered ${r.handled}\n`);
        results.get(config)!.push(r);
        await sleep(1_000);
      }
    }
    const rows = [...results.entries()];
    sections.push(...(scenario === 'lag' ? lagTable(rows as [FairConfig, LagRun[]][]) : burstTable(rows as [FairConfig, BurstRun[]][])), '');
  }
  const out = [
    SMOKE
      ? '# SMOKE RUN — fair delivery bench: crm-worker vs BullMQ vs pg-boss, the same per-message work'
      : '# Fair delivery bench: crm-worker vs BullMQ vs pg-boss, the same per-message work',
    '',
    ...(SMOKE
      ? [
          `**Smoke run: ${ROUNDS} round(s), ${LAG_COUNT.toLocaleString('en')} lag messages over ${LAG_SPREAD_MS / 1000} s, ${BURST_COUNT.toLocaleString('en')} burst messages, on a shared, loaded machine. It shows the bench works; its figures are not the bench's result.** The full run: \`npm run bench:fair\` with no BENCH_* variables.`,
          '',
        ]
      : []),
    machineDescription(),
    startLoad,
    `- bullmq: ${require('bullmq/package.json').version} (ioredis ${require('ioredis/package.json').version}), pg-boss: ${require('pg-boss/package.json').version} (the last major that runs on Node 20)`,
    `- sizes: BENCH_ROUNDS=${ROUNDS} BENCH_LAG=${LAG_COUNT} BENCH_LAG_SPREAD_MS=${LAG_SPREAD_MS} BENCH_BURST=${BURST_COUNT}`,
    '',
    ...workDescription(),
    '',
    ...sections,
  ].join('\n');
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  // A run of some systems only (BENCH_SYSTEMS) gets its own file: it must not replace the full comparison.
  const only = process.env.BENCH_SYSTEMS ? `-${[...systems].join('-')}` : '';
  const file = path.join(__dirname, 'results', SMOKE ? `delivery-fair${only}-smoke.md` : `delivery-fair${only}.md`);
  fs.writeFileSync(file, out);
  process.stdout.write(out);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
