/**
 * Whether the costly start of the exact-time run (bench/results/lag-profile.md: a fresh consumer
 * needs about twice the CPU per message in the first 1.5 s, writev the largest self time) is more
 * system calls per message or dearer ones. The fair bench's lag run (10,000 follow-ups due over
 * 10 s, crm-worker at its defaults, a fresh consumer), with `strace -c -f` attached to the
 * consumer for 1.5 s from the first due time and for 1.5 s from 5 s later; the messages the sink
 * accepted meanwhile divide the counts. strace slows every call it counts: the counts per message
 * are what to read, the microseconds only side by side.
 * Run: npm run bench:lag-syscalls   → bench/results/lag-syscalls.md (needs strace)
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { machineDescription } from './lib/machine';
import { loadLine } from './lib/process-stats';
import { startSignedSink } from './lib/signed-sink';
import { crmNodeFlags, dueFollowUps, FAIR_CONFIGS, openFairSystem } from './lib/fair-systems';

const run = promisify(execFile);
const COUNT = 10_000;
const SPREAD_MS = 10_000;
const LEAD_MS = 5_000;
const WINDOW_S = 1.5;
const LATER_MS = 5_000;
const CALLS = ['writev', 'write', 'read', 'epoll_pwait', 'connect'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Window {
  name: string;
  delivered: number;
  calls: Map<string, { count: number; usecsPerCall: number }>;
}

/** strace -c's table: "% time, seconds, usecs/call, calls, [errors,] syscall". */
function parseStraceSummary(text: string): Map<string, { count: number; usecsPerCall: number }> {
  const calls = new Map<string, { count: number; usecsPerCall: number }>();
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || !/^\d+\.\d+$/.test(cols[0]!)) continue;
    const name = cols[cols.length - 1]!;
    calls.set(name, { count: Number(cols[3]), usecsPerCall: Number(cols[2]) });
  }
  return calls;
}

async function main(): Promise<void> {
  process.env.CRMW_TEST_RUN ??= `ls${Date.now().toString(36)}`;
  const startLoad = loadLine();
  const config = FAIR_CONFIGS.find((c) => c.system === 'crm' && c.settings === 'defaults')!;
  const sink = await startSignedSink();
  const tag = `${process.env.CRMW_TEST_RUN}s`;
  const system = await openFairSystem(config, sink, tag, ['fair']);
  const windows: Window[] = [];
  try {
    const consumer = await system.startConsumer();
    const first = Date.now() + LEAD_MS;
    await system.enqueue(
      dueFollowUps(
        'fair',
        tag,
        Array.from({ length: COUNT }, (_, i) => first + (i * SPREAD_MS) / COUNT),
      ),
    );
    // Asynchronously: the sink runs in this process and must go on answering meanwhile.
    const count = async (name: string) => {
      const before = sink.group(tag).handled;
      const { stdout } = await run('bash', ['-c', `timeout -s INT ${WINDOW_S} strace -c -f -p ${consumer.pid} 2>&1 || true`]);
      windows.push({ name, delivered: sink.group(tag).handled - before, calls: parseStraceSummary(stdout) });
    };
    await sleep(first - Date.now());
    await count(`the first ${WINDOW_S} s of due times`);
    await sleep(first + LATER_MS - Date.now());
    await count(`${WINDOW_S} s from ${LATER_MS / 1000} s on`);
    if (!(await sink.waitFor(tag, COUNT, 30_000))) throw new Error('the run did not complete');
    await consumer.stop();
  } finally {
    await system.cleanup();
    await sink.close();
  }
  const lines = [
    '# System calls per message at the start of the exact-time run and later',
    '',
    machineDescription(),
    startLoad,
    `- ${COUNT.toLocaleString('en')} follow-ups due over ${SPREAD_MS / 1000} s (the fair bench's lag run and sink), crm-worker at its defaults (node ${crmNodeFlags().join(' ')}), a fresh consumer started ${LEAD_MS / 1000} s before the first due time; one run`,
    `- \`strace -c -f\` on the consumer for ${WINDOW_S} s from the first due time and for ${WINDOW_S} s from ${LATER_MS / 1000} s later; per message = calls / messages the sink accepted in the window. strace slows each call: compare the µs per call only between the two windows`,
    '',
    `| window | messages | ${CALLS.map((c) => `${c} per message`).join(' | ')} | writev µs per call (under strace) |`,
    `|---|---|${CALLS.map(() => '---').join('|')}|---|`,
  ];
  for (const w of windows) {
    const per = CALLS.map((c) => (w.delivered > 0 ? ((w.calls.get(c)?.count ?? 0) / w.delivered).toFixed(2) : '—'));
    lines.push(`| ${w.name} | ${w.delivered} | ${per.join(' | ')} | ${w.calls.get('writev')?.usecsPerCall ?? '—'} |`);
  }
  const out = path.join(__dirname, 'results', 'lag-syscalls.md');
  fs.writeFileSync(out, `${lines.join('\n')}\n`);
  process.stderr.write(`[bench] wrote ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
