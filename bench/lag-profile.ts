/**
 * What the crm-worker consumer does while the exact-time lag tail forms: the fair bench's lag run
 * (10,000 follow-ups due over 10 s, crm-worker at its defaults, a fresh consumer as in
 * bench/delivery-fair.ts), with the consumer under V8's CPU profiler. The run is cut into 250 ms
 * slices of the due times; each row gives the lag at the sink of the messages due in it and the
 * consumer's CPU in that slice, with the functions that took most of it (self time, attributed to
 * the nearest crm-worker frame; syscalls such as writev stand for themselves).
 *
 * The profiler costs CPU itself, so lags here are higher than in delivery-fair.md; the table is
 * for where the time goes, not for the lag figures. The slices are aligned on the consumer's
 * spawn (±50 ms: node's start-up before the profiler runs).
 * Run: npm run bench:lag-profile   → bench/results/lag-profile.md
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machineDescription } from './lib/machine';
import { loadLine } from './lib/process-stats';
import { startSignedSink } from './lib/signed-sink';
import { crmNodeFlags, dueFollowUps, FAIR_CONFIGS, openFairSystem } from './lib/fair-systems';

const COUNT = 10_000;
const SPREAD_MS = 10_000;
const LEAD_MS = 5_000;
const SLICE_MS = 250;
const TENANT = 'fair';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Per slice of `sliceMs` from `fromMs` (ms after the profile's start): busy ms and the top self-time entries. */
function slicesOf(profile: CpuProfile, fromMs: number, sliceMs: number, count: number): Array<{ busy: number; top: Array<[string, number]> }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const nameOf = (id: number): string => {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(garbage collector)') return 'GC';
    if (frame.functionName === '(program)') return '(program)';
    if (!frame.url) return frame.functionName; // native: writev, ...
    // The nearest crm-worker frame up the stack says whose work it was.
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const url = byId.get(cur)!.callFrame.url;
      if (url.includes('/dist/')) return `${byId.get(cur)!.callFrame.functionName || '(anonymous)'} (${url.replace(/.*\/dist\//, '')})`;
    }
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(frame.url);
    return pkg ? pkg[1]! : frame.url;
  };
  const slices = Array.from({ length: count }, () => ({ busy: 0, by: new Map<string, number>() }));
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const at = (t - profile.startTime) / 1000 - fromMs;
    const index = Math.floor(at / sliceMs);
    const id = profile.samples[i]!;
    if (index < 0 || index >= count || byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const ms = profile.timeDeltas[i]! / 1000;
    const slice = slices[index]!;
    slice.busy += ms;
    const name = nameOf(id);
    slice.by.set(name, (slice.by.get(name) ?? 0) + ms);
  }
  return slices.map((s) => ({ busy: s.busy, top: [...s.by].sort((a, b) => b[1] - a[1]).slice(0, 3) }));
}

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `lp${Date.now().toString(36)}`;
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-lag-profile-'));
  // The shipped flags (crmNodeFlags) and the profiler; the profile is written when the worker exits.
  const shippedFlags = crmNodeFlags();
  process.env.BENCH_CRM_NODE_FLAGS = [...shippedFlags, '--cpu-prof', `--cpu-prof-dir=${profileDir}`].join(' ');
  const startLoad = loadLine();
  const config = FAIR_CONFIGS.find((c) => c.system === 'crm' && c.settings === 'defaults')!;
  const sink = await startSignedSink();
  const tag = `${process.env.CRMW_TEST_RUN}p`;
  const system = await openFairSystem(config, sink, tag, [TENANT]);
  let spawnedAt = 0;
  let first = 0;
  let lags: number[] = [];
  try {
    spawnedAt = Date.now();
    const consumer = await system.startConsumer();
    first = Date.now() + LEAD_MS;
    const dues = Array.from({ length: COUNT }, (_, i) => first + (i * SPREAD_MS) / COUNT);
    await system.enqueue(dueFollowUps(TENANT, tag, dues));
    const complete = await sink.waitFor(tag, COUNT, first - Date.now() + SPREAD_MS + 15_000);
    if (!complete) throw new Error('the run did not complete');
    // SIGTERM: a clean exit, on which node writes the profile.
    process.kill(consumer.pid, 'SIGTERM');
    for (let i = 0; i < 100 && fs.readdirSync(profileDir).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    await consumer.stop();
    lags = sink.group(tag).lags;
  } finally {
    await system.cleanup();
    await sink.close();
  }
  const file = fs.readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${profileDir}`);
  const profile = JSON.parse(fs.readFileSync(path.join(profileDir, file), 'utf8')) as CpuProfile;
  fs.rmSync(profileDir, { recursive: true, force: true });

  const sliceCount = SPREAD_MS / SLICE_MS;
  const perSlice = COUNT / sliceCount;
  const slices = slicesOf(profile, first - spawnedAt, SLICE_MS, sliceCount + 8);
  const fmt = (v: number) => (v < 10 ? v.toFixed(1) : v.toFixed(0));
  const lines = [
    '# Where the exact-time lag tail forms: the consumer under the CPU profiler',
    '',
    machineDescription(),
    startLoad,
    `- ${COUNT.toLocaleString('en')} follow-ups due over ${SPREAD_MS / 1000} s (the fair bench's lag run and sink), crm-worker at its defaults, a fresh consumer started ${LEAD_MS / 1000} s before the first due time; one run, node ${shippedFlags.join(' ')} --cpu-prof`,
    "- lag = arrival at the sink − due, ms (the sink keeps arrival order, close to due order: a slice is 250 arrivals); CPU = the consumer's busy time in the slice (of 250 ms), top three by self time",
    '- the profiler costs CPU itself: the lags are higher than in delivery-fair.md; the table says where the time goes',
    '',
    '| due from (s) | lag p50 | lag max | consumer CPU (ms of 250) | most of it |',
    '|---|---|---|---|---|',
  ];
  for (let i = 0; i < sliceCount; i++) {
    const part = lags.slice(i * perSlice, (i + 1) * perSlice).sort((a, b) => a - b);
    const s = slices[i]!;
    const top = s.top.map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join('; ');
    lines.push(
      `| ${((i * SLICE_MS) / 1000).toFixed(2)} | ${fmt(part[Math.floor(part.length / 2)]!)} | ${fmt(part[part.length - 1]!)} | ${s.busy.toFixed(0)} | ${top} |`,
    );
  }
  const out = path.join(__dirname, 'results', 'lag-profile.md');
  fs.writeFileSync(out, `${lines.join('\n')}\n`);
  process.stderr.write(`[bench] wrote ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
