/**
 * The test suite's time, from the JSON jest writes (scripts/test.sh: .test-results/jest.json):
 * wall time, file time and the slowest files of each run given, into bench/results/suite-time.md.
 *
 *   npx tsx bench/suite-time.ts 'label=path/to/jest.json' ['label=other.json' ...]
 *
 * With 'label=jest.json+cpu.log' (a log of bench/lib/proc-stat-sampler.sh taken during the run),
 * the row also says how busy the machine's cores were while jest ran: idle cores mean more jest
 * workers can help, busy ones that only less work can.
 */
import fs from 'node:fs';
import path from 'node:path';
import { machineDescription } from './lib/machine';

interface JestJson {
  startTime: number;
  numTotalTests: number;
  numFailedTests: number;
  testResults: { name: string; startTime: number; endTime: number; status: string }[];
}

/** The share of CPU time the cores were not idle between two instants, from a proc-stat-sampler log. */
function busyShare(logFile: string, fromMs: number, toMs: number): string {
  const samples = fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter((v) => v.length === 9 && v.every(Number.isFinite))
    .filter(([at]) => at! * 1000 >= fromMs - 2_000 && at! * 1000 <= toMs + 2_000);
  if (samples.length < 2) return 'n/a';
  const [first, last] = [samples[0]!, samples[samples.length - 1]!];
  const delta = first.map((v, i) => last[i]! - v).slice(1);
  const total = delta.reduce((a, b) => a + b, 0);
  const idle = delta[3]! + delta[4]!; // idle and iowait
  return `${(100 * (1 - idle / total)).toFixed(0)}%`;
}

/**
 * 'jest.json' or 'jest.json+cpu.log'. A path may hold '+' itself: an existing file named by the
 * whole value is the JSON; otherwise the last '+' whose two sides are both files splits it.
 */
function splitPaths(value: string): { jsonPath: string; cpuLog?: string } {
  if (fs.existsSync(value)) return { jsonPath: value };
  for (let at = value.lastIndexOf('+'); at > 0; at = value.lastIndexOf('+', at - 1)) {
    const [jsonPath, cpuLog] = [value.slice(0, at), value.slice(at + 1)];
    if (fs.existsSync(jsonPath) && fs.existsSync(cpuLog)) return { jsonPath, cpuLog };
  }
  throw new Error(`no such file: ${value} (expected path/to/jest.json or path/to/jest.json+cpu.log)`);
}

const runs = process.argv.slice(2).map((arg) => {
  const at = arg.lastIndexOf('='); // the label may hold '=', a path here does not
  if (at < 1) throw new Error(`expected label=path/to/jest.json, got ${arg}`);
  const { jsonPath, cpuLog } = splitPaths(arg.slice(at + 1));
  return { label: arg.slice(0, at), json: JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as JestJson, cpuLog };
});
if (runs.length === 0) throw new Error('give at least one label=path/to/jest.json');

const seconds = (ms: number) => (ms / 1000).toFixed(0);
const lines = [
  "# The test suite's time",
  '',
  machineDescription(),
  ...(process.env.BENCH_NOTE ? ['', process.env.BENCH_NOTE] : []),
  '',
  '| run | files | tests | failed | wall | file time | cores busy |',
  '|---|---|---|---|---|---|---|',
];
for (const { label, json, cpuLog } of runs) {
  const end = Math.max(...json.testResults.map((t) => t.endTime));
  const fileTime = json.testResults.reduce((n, t) => n + (t.endTime - t.startTime), 0);
  lines.push(
    `| ${label} | ${json.testResults.length} | ${json.numTotalTests} | ${json.numFailedTests} | ${seconds(end - json.startTime)} s | ${seconds(fileTime)} s | ${cpuLog ? busyShare(cpuLog, json.startTime, end) : 'not sampled'} |`,
  );
}
const names = [...new Set(runs.flatMap((r) => r.json.testResults.map((t) => path.relative(process.cwd(), t.name).replace(/^.*?test\//, 'test/'))))];
const durationIn = (r: (typeof runs)[number], name: string) => {
  const t = r.json.testResults.find((x) => x.name.endsWith(name.replace(/^test\//, '/test/')));
  return t ? (t.endTime - t.startTime) / 1000 : NaN;
};
const slowest = names.sort((a, b) => durationIn(runs[0]!, b) - durationIn(runs[0]!, a)).slice(0, 20);
lines.push(
  '',
  `The 20 slowest files of "${runs[0]!.label}", seconds:`,
  '',
  `| file | ${runs.map((r) => r.label).join(' | ')} |`,
  `|---|${runs.map(() => '---|').join('')}`,
);
for (const name of slowest) lines.push(`| ${name} | ${runs.map((r) => durationIn(r, name).toFixed(1)).join(' | ')} |`);
fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
fs.writeFileSync(path.join(__dirname, 'results', 'suite-time.md'), lines.join('\n') + '\n');
process.stdout.write(lines.join('\n') + '\n');
