/**
 * What each runtime library costs in resident memory just by being loaded: for each package, a
 * fresh `node` process measures its RSS and V8 heap, requires the package, collects garbage, and
 * measures again (median of BENCH_ROUNDS (5) processes). Beside it, whether the worker loads the
 * package at its defaults (test/process/client-libraries-on-demand.test.ts checks the optional
 * clients load only when configured).
 * Run: npm run bench:module-cost   → bench/results/module-cost.md
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { machineDescription } from './lib/machine';
import { envInt, median } from './lib/rounds';

const ROUNDS = envInt('BENCH_ROUNDS', 5);
const ROOT = path.join(__dirname, '..');

/** Package → what crm-worker uses it for and when it loads it. */
const PACKAGES: Array<[string, string]> = [
  ['express', 'the HTTP API and /health, /metrics: always'],
  ['pg', 'PostgreSQL: with DATABASE_URL'],
  ['@redis/client', 'lease locks and rate limits: with REDIS_URL or REDIS_SENTINELS'],
  ['prom-client', '/metrics: always'],
  ['liquidjs', 'templates: always'],
  ['undici', 'webhook sends: always (the delivery channel of the defaults)'],
  ['zod', 'config and request validation: always'],
  ['nodemailer', 'e-mail: only with SMTP_URL or SMTP_HOST'],
  ['twilio', 'SMS and WhatsApp: only with TWILIO_ACCOUNT_SID'],
  ['openai', 'personalization and embeddings: only with OPENAI_API_KEY'],
  ['@qdrant/js-client-rest', 'knowledge sync: only with QDRANT_URL'],
  ['@electric-sql/pglite', 'the embedded database: only without DATABASE_URL'],
  ['@opentelemetry/sdk-trace-base', 'traces: only with OTEL_EXPORTER_OTLP_ENDPOINT'],
  ['@sentry/node-core', 'error reports: only with SENTRY_DSN'],
  ['winston', 'logging: always'],
];

const PROBE = `
const v8 = require('node:v8');
const settle = () => { for (let i = 0; i < 3; i++) global.gc(); };
settle();
const before = { rss: process.memoryUsage().rss, heap: v8.getHeapStatistics().used_heap_size };
require(process.argv[1]);
settle();
const after = { rss: process.memoryUsage().rss, heap: v8.getHeapStatistics().used_heap_size };
process.stdout.write(JSON.stringify({ rss: after.rss - before.rss, heap: after.heap - before.heap }));
`;

function measure(pkg: string): { rss: number; heap: number } {
  const runs = Array.from({ length: ROUNDS }, () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '-e', PROBE, pkg], { cwd: ROOT, encoding: 'utf8' });
    return JSON.parse(out) as { rss: number; heap: number };
  });
  return { rss: median(runs.map((r) => r.rss)), heap: median(runs.map((r) => r.heap)) };
}

function version(pkg: string): string {
  return (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

function main(): void {
  const MiB = 2 ** 20;
  const lines = [
    '# What loading each runtime library costs',
    '',
    machineDescription(),
    `- each figure: a fresh \`node --expose-gc\` process, RSS and V8 used heap after a full GC before and after \`require(package)\`; median of ${ROUNDS} processes, MiB`,
    '- it is the cost of loading only: a client the worker then creates and uses costs more (PGlite: its WASM heap, see memory.md)',
    "- each figure includes the Node core modules the package is first to load (http, net, stream, ...), which packages share: the figures do not add up to a worker's RSS",
    '',
    '| package | version | RSS added | V8 heap added | used for / loaded when |',
    '|---|---|---:|---:|---|',
  ];
  for (const [pkg, use] of PACKAGES) {
    process.stderr.write(`[bench] ${pkg}\n`);
    const m = measure(pkg);
    lines.push(`| \`${pkg}\` | ${version(pkg)} | ${(m.rss / MiB).toFixed(1)} | ${(m.heap / MiB).toFixed(1)} | ${use} |`);
  }
  const out = path.join(__dirname, 'results', 'module-cost.md');
  fs.writeFileSync(out, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main();
