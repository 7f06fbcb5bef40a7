/**
 * The test suite's time, from the JSON jest writes (scripts/test.sh: .test-results/jest.json):
 * wall time, file time and the slowest files of each run given, into bench/results/suite-time.md.
 *
 *   npx tsx bench/suite-time.ts 'label=path/to/jest.json' ['label=other.json' ...]
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

const runs = process.argv.slice(2).map((arg) => {
  const at = arg.lastIndexOf('='); // the label may hold '=', a path here does not
  if (at < 1) throw new Error(`expected label=path/to/jest.json, got ${arg}`);
  return { label: arg.slice(0, at), json: JSON.parse(fs.readFileSync(arg.slice(at + 1), 'utf8')) as JestJson };
});
if (runs.length === 0) throw new Error('give at least one label=path/to/jest.json');

const seconds = (ms: number) => (ms / 1000).toFixed(0);
const lines = [
  "# The test suite's time",
  '',
  machineDescription(),
  ...(process.env.BENCH_NOTE ? ['', process.env.BENCH_NOTE] : []),
  '',
  '| run | files | tests | failed | wall | file time |',
  '|---|---|---|---|---|---|',
];
for (const { label, json } of runs) {
  const end = Math.max(...json.testResults.map((t) => t.endTime));
  const fileTime = json.testResults.reduce((n, t) => n + (t.endTime - t.startTime), 0);
  lines.push(
    `| ${label} | ${json.testResults.length} | ${json.numTotalTests} | ${json.numFailedTests} | ${seconds(end - json.startTime)} s | ${seconds(fileTime)} s |`,
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
