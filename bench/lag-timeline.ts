/**
 * Where the lag tail of the fair bench's exact-time run comes from: the same run (10,000
 * follow-ups due over 10 s, bench/delivery-fair.ts) split into the stream's first second and the
 * rest, for crm-worker at its defaults and BullMQ at its best, each consumer either fresh (as in
 * the fair bench: started 5 s before the first due time, idle until then) or warmed (300 messages
 * of its own delivered first, 1 s after its start; they are not counted).
 * BENCH_ROUNDS (3) rounds in alternating order, medians reported.
 * Run: npm run bench:lag-timeline   → bench/results/lag-timeline.md
 */
import fs from 'node:fs';
import path from 'node:path';
import { machineDescription, percentile } from './lib/machine';
import { loadLine } from './lib/process-stats';
import { startSignedSink } from './lib/signed-sink';
import { buildFairPeers, dueFollowUps, FAIR_CONFIGS, openFairSystem, type FairConfig } from './lib/fair-systems';
import { envInt, loadNow, median, roundOrder } from './lib/rounds';

const COUNT = 10_000;
const SPREAD_MS = 10_000;
const LEAD_MS = 5_000;
const WARM_COUNT = 300;
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const TENANT = 'fair';
const FIRST_SECOND = COUNT / (SPREAD_MS / 1000);

interface Split {
  load: number;
  complete: boolean;
  all: { p50: number; p99: number; max: number };
  first: { p99: number; max: number };
  rest: { p99: number; max: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(config: FairConfig, warm: boolean, tag: string): Promise<Split> {
  const load = loadNow();
  const sink = await startSignedSink();
  const system = await openFairSystem(config, sink, tag, [TENANT]);
  try {
    const consumer = await system.startConsumer();
    const first = Date.now() + LEAD_MS;
    if (warm) {
      const warmDues = Array.from({ length: WARM_COUNT }, (_, i) => Date.now() + 1_000 + i * 2);
      // Ids after the measured ones: peers key their follow-up rows by n.
      await system.enqueue(dueFollowUps(TENANT, `${tag}w`, warmDues).map((m) => ({ ...m, n: m.n + COUNT })));
    }
    const dues = Array.from({ length: COUNT }, (_, i) => first + (i * SPREAD_MS) / COUNT);
    await system.enqueue(dueFollowUps(TENANT, tag, dues));
    const complete = await sink.waitFor(tag, COUNT, first - Date.now() + SPREAD_MS + 15_000);
    await consumer.stop();
    const g = sink.group(tag);
    // The sink keeps lags in arrival order: "the first second" is the first 1,000 arrivals.
    const lags = g.lags;
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const firstPart = sorted(lags.slice(0, FIRST_SECOND));
    const restPart = sorted(lags.slice(FIRST_SECOND));
    const all = sorted(lags);
    return {
      load,
      complete,
      all: { p50: percentile(all, 50), p99: percentile(all, 99), max: all[all.length - 1]! },
      first: { p99: percentile(firstPart, 99), max: firstPart[firstPart.length - 1]! },
      rest: { p99: percentile(restPart, 99), max: restPart[restPart.length - 1]! },
    };
  } finally {
    await system.cleanup();
    await sink.close();
  }
}

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `tl${Date.now().toString(36)}`;
  const runId = process.env.CRMW_TEST_RUN;
  const startLoad = loadLine();
  buildFairPeers();
  const configs = FAIR_CONFIGS.filter((c) => (c.system === 'crm' && c.settings === 'defaults') || (c.system === 'bullmq' && c.settings === 'best'));
  const cases = configs.flatMap((config) => [false, true].map((warm) => ({ config, warm })));
  const results = new Map(cases.map((c) => [c, [] as Split[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of roundOrder(cases, round)) {
      const tag = `${runId}r${round}${c.config.system}${c.warm ? 'warm' : 'cold'}`;
      process.stderr.write(`[bench] round ${round + 1}/${ROUNDS}: ${c.config.label}, ${c.warm ? 'warmed' : 'fresh'} (load ${loadNow().toFixed(2)})\n`);
      results.get(c)!.push(await run(c.config, c.warm, tag));
      await sleep(1_000);
    }
  }
  const m = (runs: Split[], pick: (s: Split) => number) => {
    const v = median(runs.map(pick));
    return v < 10 ? v.toFixed(1) : v.toFixed(0);
  };
  const lines = [
    '# The exact-time lag tail: the first second of the stream against the rest',
    '',
    '"First second": the first 1,000 messages to arrive at the sink (the sink keeps arrival order, close to due order).',
    '',
    machineDescription(),
    startLoad,
    `- ${COUNT.toLocaleString('en')} follow-ups due over ${SPREAD_MS / 1000} s (${FIRST_SECOND.toLocaleString('en')} a second), the fair bench's work and sink; ${ROUNDS} rounds, medians; lag = arrival at the sink − due, ms`,
    `- fresh: the consumer started ${LEAD_MS / 1000} s before the first due time and idle until then (as in delivery-fair.md); warmed: ${WARM_COUNT} messages of its own delivered first (not counted)`,
    '',
    '| system / settings | consumer | all: p50 | all: p99 | all: max | first second: p99 | first second: max | after it: p99 | after it: max | complete | load at start (per round) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of cases) {
    const runs = results.get(c)!;
    lines.push(
      `| ${c.config.label} | ${c.warm ? 'warmed' : 'fresh'} | ${m(runs, (r) => r.all.p50)} | ${m(runs, (r) => r.all.p99)} | ${m(runs, (r) => r.all.max)} | ${m(runs, (r) => r.first.p99)} | ${m(runs, (r) => r.first.max)} | ${m(runs, (r) => r.rest.p99)} | ${m(runs, (r) => r.rest.max)} | ${runs.map((r) => (r.complete ? 'yes' : 'no')).join(' / ')} | ${runs.map((r) => r.load.toFixed(1)).join(' / ')} |`,
    );
  }
  const out = path.join(__dirname, 'results', 'lag-timeline.md');
  fs.writeFileSync(out, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
