/**
 * Fairness across tenants and classes (issue 14): tenant A's BENCH_FAIRNESS_BACKLOG (100,000)
 * marketing messages are due at once when the consumer starts, while tenant B's transactional
 * messages arrive at BENCH_FAIRNESS_RATE (50) a second until A's backlog has drained; B's lag
 * (arrival at the sink − due) p50 / p99 / max, against B's same stream for as long with no
 * backlog. crm-worker serves classes in order and tenants fairly (migration 0051); the peers get
 * the same scenario through their own priorities (BullMQ: priority 1 for B, 10 for A; pg-boss:
 * 10 for B, 0 for A), their handlers doing crm-worker's work (bench/lib/followup-work.ts).
 * BENCH_FAIRNESS_SYSTEMS picks configurations (crm,crm-tuned,bullmq,pgboss); BENCH_ROUNDS (1) rounds.
 * Smaller sizes write bench/results/fairness-smoke.md, labelled as a smoke run.
 * Run: npm run bench:fairness
 */
import fs from 'node:fs';
import path from 'node:path';
import { machineDescription, percentile } from './lib/machine';
import { loadLine } from './lib/process-stats';
import { preciseNow } from './lib/recorder';
import { startSignedSink, type SignedSink } from './lib/signed-sink';
import { buildFairPeers, FAIR_CONFIGS, openFairSystem, type FairConfig, type FairMessage, type FairSystem } from './lib/fair-systems';
import { envInt, loadNow, median, roundOrder } from './lib/rounds';
import { workDescription } from './lib/fair-work-text';

const BACKLOG = envInt('BENCH_FAIRNESS_BACKLOG', 100_000);
const RATE = envInt('BENCH_FAIRNESS_RATE', 50);
const CAP_MS = envInt('BENCH_FAIRNESS_CAP_MS', 180_000);
/** The no-backlog stream runs as long as the drain did, but at least this long (enough samples for a p99). */
const MIN_STREAM_MS = envInt('BENCH_FAIRNESS_MIN_STREAM_MS', 10_000);
const ROUNDS = envInt('BENCH_ROUNDS', 1);
const SMOKE = BACKLOG < 100_000 || RATE !== 50;
const TENANT_A = 'tenant-a';
const TENANT_B = 'tenant-b';

const CONFIG_BY_NAME: Record<string, FairConfig> = {
  crm: FAIR_CONFIGS.find((c) => c.system === 'crm' && c.settings === 'defaults')!,
  'crm-tuned': FAIR_CONFIGS.find((c) => c.system === 'crm' && c.settings === 'best')!,
  bullmq: { ...FAIR_CONFIGS.find((c) => c.system === 'bullmq' && c.settings === 'best')!, label: 'BullMQ priorities (concurrency 100, removeOnComplete)' },
  pgboss: { ...FAIR_CONFIGS.find((c) => c.system === 'pgboss' && c.settings === 'best')!, label: 'pg-boss priorities (poll 0.5 s, batch 1000, 4 loops)' },
};

interface LagFigures {
  count: number;
  p50: number;
  p99: number;
  max: number;
}
interface FairnessRun {
  loadLoaded: number;
  loadAlone: number;
  /** Time from consumer start until A's last message reached the sink (NaN: not drained within the cap). */
  drainMs: number;
  aDelivered: number;
  loaded: LagFigures;
  alone: LagFigures;
  duplicates: number;
  bad: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function figures(lags: readonly number[]): LagFigures {
  const s = [...lags].sort((a, b) => a - b);
  return { count: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

/**
 * B's stream: one transactional message every 1000/RATE ms, each enqueued on its own the moment
 * it is due (not awaited one after the other, so a slow insert does not slow the stream), until
 * `until()` says stop.
 */
async function streamB(system: FairSystem, group: string, firstId: number, until: () => boolean): Promise<number> {
  const started = preciseNow();
  const pending: Promise<void>[] = [];
  let n = 0;
  while (!until()) {
    const at = started + (n * 1000) / RATE;
    const wait = at - preciseNow();
    if (wait > 0) await sleep(wait);
    const due = Math.floor(preciseNow());
    const id = firstId + n;
    const message: FairMessage = { tenantId: TENANT_B, type: 'appointment-reminder', n: id, due, key: `${group}:${id}:${due}`, urgency: 'high' };
    pending.push(system.enqueue([message]));
    n++;
  }
  await Promise.all(pending);
  return n;
}

async function loadedRun(config: FairConfig, tag: string, sink: SignedSink): Promise<{ drainMs: number; aDelivered: number; b: number[] }> {
  const system = await openFairSystem(config, sink, tag, [TENANT_A, TENANT_B]);
  try {
    const due = Date.now();
    const groupA = `${tag}a`;
    const groupB = `${tag}b`;
    const backlog: FairMessage[] = Array.from({ length: BACKLOG }, (_, i) => ({
      tenantId: TENANT_A,
      type: 'campaign',
      n: i + 1,
      due,
      key: `${groupA}:${i + 1}:${due}`,
      urgency: 'low',
    }));
    await system.enqueue(backlog);
    const consumer = await system.startConsumer();
    const startedAt = preciseNow();
    let drained = false;
    const drain = sink.waitFor(groupA, BACKLOG, CAP_MS).then((ok) => (drained = ok));
    let capped = false;
    const cap = setTimeout(() => (capped = true), CAP_MS);
    const sent = await streamB(system, groupB, BACKLOG + 1, () => drained || capped);
    clearTimeout(cap);
    await drain;
    const drainMs = drained ? sink.group(groupA).lastArrival! - startedAt : NaN;
    await sink.waitFor(groupB, sent, 30_000);
    await consumer.stop();
    return { drainMs, aDelivered: sink.group(groupA).handled, b: sink.group(groupB).lags };
  } finally {
    await system.cleanup();
  }
}

async function aloneRun(config: FairConfig, tag: string, sink: SignedSink, streamMs: number): Promise<number[]> {
  const system = await openFairSystem(config, sink, tag, [TENANT_A, TENANT_B]);
  try {
    const consumer = await system.startConsumer();
    const group = `${tag}b`;
    const end = preciseNow() + streamMs;
    const sent = await streamB(system, group, 1, () => preciseNow() >= end);
    await sink.waitFor(group, sent, 30_000);
    await consumer.stop();
    return sink.group(group).lags;
  } finally {
    await system.cleanup();
  }
}

async function runFairness(config: FairConfig, tag: string): Promise<FairnessRun> {
  const sink = await startSignedSink();
  try {
    const loadLoaded = loadNow();
    const loaded = await loadedRun(config, `${tag}l`, sink);
    await sleep(1_000);
    const loadAlone = loadNow();
    const streamMs = Math.max(MIN_STREAM_MS, Number.isNaN(loaded.drainMs) ? CAP_MS : loaded.drainMs);
    const alone = await aloneRun(config, `${tag}s`, sink, streamMs);
    return {
      loadLoaded,
      loadAlone,
      drainMs: loaded.drainMs,
      aDelivered: loaded.aDelivered,
      loaded: figures(loaded.b),
      alone: figures(alone),
      duplicates: sink.duplicates(),
      bad: sink.badSignatures(),
    };
  } finally {
    await sink.close();
  }
}

const ms = (n: number) => (Number.isNaN(n) ? 'n/a' : n < 10 ? n.toFixed(1) : Math.round(n).toString());
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');

function table(rows: [FairConfig, FairnessRun[]][]): string[] {
  const m = (runs: FairnessRun[], pick: (r: FairnessRun) => number) => median(runs.map(pick));
  const crm = rows.find(([c]) => c.system === 'crm' && c.settings === 'defaults')?.[1];
  const crmP99 = crm ? m(crm, (r) => r.loaded.p99) : NaN;
  const lines = [
    `## Tenant B's transactional lag while tenant A's ${BACKLOG.toLocaleString('en')} marketing messages drain`,
    '',
    `B: ${RATE} messages a second, each due the moment it is enqueued; lag = arrival at the sink − due, ms.`,
    '"with A\'s backlog": B\'s stream from the consumer\'s start until A\'s last message arrived; "alone": the',
    `same stream for as long (at least ${MIN_STREAM_MS / 1000} s) on a fresh database with no backlog. Medians over ${ROUNDS} round(s).`,
    `A run whose backlog had not drained after ${CAP_MS / 1000} s stops B's stream there (drain shown as "> ${CAP_MS / 1000} s").`,
    '',
    "| system | A drained in | A msg/s | B delivered | B p50 / p99 / max with A's backlog | B p50 / p99 / max alone | B p99 with ÷ alone | B p99 ÷ crm-worker's | dup / bad sig | load at start (with / alone) |",
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [config, runs] of rows) {
    const drain = m(runs, (r) => (Number.isNaN(r.drainMs) ? Infinity : r.drainMs));
    const p99 = m(runs, (r) => r.loaded.p99);
    lines.push(
      `| ${config.label} | ${Number.isFinite(drain) ? `${(drain / 1000).toFixed(1)} s` : `> ${CAP_MS / 1000} s`} | ${Number.isFinite(drain) ? Math.round((BACKLOG / drain) * 1000).toLocaleString('en') : 'n/a'} | ${runs.map((r) => r.loaded.count).join(' / ')} | ${ms(m(runs, (r) => r.loaded.p50))} / ${ms(p99)} / ${ms(m(runs, (r) => r.loaded.max))} | ${ms(m(runs, (r) => r.alone.p50))} / ${ms(m(runs, (r) => r.alone.p99))} / ${ms(m(runs, (r) => r.alone.max))} | ${ratio(
        p99,
        m(runs, (r) => r.alone.p99),
      )} | ${ratio(p99, crmP99)} | ${runs.reduce((n, r) => n + r.duplicates, 0)} / ${runs.reduce((n, r) => n + r.bad, 0)} | ${runs.map((r) => `${r.loadLoaded.toFixed(1)} / ${r.loadAlone.toFixed(1)}`).join('; ')} |`,
    );
  }
  lines.push('', '## Target (issue 14)', '');
  if (crm) {
    lines.push(
      `- crm-worker defaults: B's p99 under 100 ms while A drains: ${ms(crmP99)} ms — ${crmP99 < 100 ? 'met' : 'MISSED'}${SMOKE ? ' (smoke run: not the verdict)' : ''}`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `fairness${Date.now().toString(36)}`;
  const run = process.env.CRMW_TEST_RUN;
  const startLoad = loadLine();
  buildFairPeers();
  const names = (process.env.BENCH_FAIRNESS_SYSTEMS ?? 'crm,bullmq,pgboss').split(',');
  const configs = names.map((n) => {
    const c = CONFIG_BY_NAME[n];
    if (!c) throw new Error(`BENCH_FAIRNESS_SYSTEMS: unknown "${n}" (known: ${Object.keys(CONFIG_BY_NAME).join(', ')})`);
    return c;
  });
  const results = new Map<FairConfig, FairnessRun[]>(configs.map((c) => [c, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const config of roundOrder(configs, round)) {
      process.stderr.write(`[bench] fairness round ${round + 1}/${ROUNDS}: ${config.label} (load ${loadNow().toFixed(2)})\n`);
      const r = await runFairness(config, `${run}r${round}${config.system}${config.settings}`);
      process.stderr.write(`[bench]   A ${r.aDelivered}, B ${r.loaded.count} p99 ${ms(r.loaded.p99)} ms, alone p99 ${ms(r.alone.p99)} ms\n`);
      results.get(config)!.push(r);
    }
  }
  const out = [
    SMOKE
      ? "# SMOKE RUN — fairness: one tenant's backlog against another's transactional messages"
      : "# Fairness: one tenant's backlog against another's transactional messages",
    '',
    ...(SMOKE
      ? [
          `**Smoke run: a backlog of ${BACKLOG.toLocaleString('en')}, B at ${RATE}/s, ${ROUNDS} round(s), on a shared, loaded machine. It shows the bench works; its figures are not the bench's result.** The full run: \`npm run bench:fairness\` with no BENCH_* variables.`,
          '',
        ]
      : []),
    machineDescription(),
    startLoad,
    `- bullmq: ${require('bullmq/package.json').version}, pg-boss: ${require('pg-boss/package.json').version}`,
    `- sizes: BENCH_FAIRNESS_BACKLOG=${BACKLOG} BENCH_FAIRNESS_RATE=${RATE} BENCH_ROUNDS=${ROUNDS}`,
    '',
    "crm-worker: A's rows have type `campaign` (class marketing), B's `appointment-reminder` (transactional);",
    "no quiet hours or frequency caps are configured, so nothing holds A's rows back but the pick's order.",
    '',
    ...workDescription(),
    '',
    ...table([...results.entries()]),
    '',
  ].join('\n');
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const file = path.join(__dirname, 'results', SMOKE ? 'fairness-smoke.md' : 'fairness.md');
  fs.writeFileSync(file, out);
  process.stdout.write(out);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
