import fs from 'node:fs';
import path from 'node:path';

/**
 * test/unit-lane.js lists the fast lane's files by hand; this keeps the list honest both ways by
 * reading imports. A file needs a service when it, or a test helper it imports (followed through
 * test/), imports a client, server or process module, a service client of src/, or dist/.
 * At run time test/support/unit-lane-guard.ts also refuses every socket in the lane.
 */
const root = path.join(__dirname, '..', '..');
const unitLane: string[] = require('../unit-lane');

const serviceModules = new Set(
  [
    'pg',
    '@redis/client',
    '@electric-sql/pglite',
    '@qdrant/js-client-rest',
    'bullmq',
    'pg-boss',
    'redlock',
    'child_process',
    'http',
    'https',
    'net',
    'dgram',
    'express',
    'undici',
    'smtp-server',
    'autocannon',
  ].flatMap((name) => [name, `node:${name}`]),
);
const serviceFiles = ['src/db/pg-database.ts', 'src/db/pglite-database.ts', 'src/redis/redis-client.ts', 'src/main.ts'];

function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)'([^']+)'/g)].map((m) => m[1] as string);
}

function resolveRelative(fromFile: string, specifier: string): string {
  const base = path.join(path.dirname(fromFile), specifier);
  for (const candidate of [base, `${base}.ts`, `${base}.js`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(path.join(root, candidate)) && fs.statSync(path.join(root, candidate)).isFile()) return candidate;
  }
  return base;
}

/** Why `file` needs a service (the import chain), or undefined when it needs none. */
function serviceReason(file: string, seen = new Set<string>()): string | undefined {
  seen.add(file);
  for (const specifier of importsOf(file)) {
    if (serviceModules.has(specifier) || specifier.includes('/dist/') || specifier.startsWith('crm-worker')) return `${file} imports ${specifier}`;
    if (!specifier.startsWith('.')) continue;
    const target = resolveRelative(file, specifier);
    if (serviceFiles.includes(target) || target.startsWith('dist/')) return `${file} imports ${target}`;
    if (target.startsWith('test/') && !seen.has(target) && fs.existsSync(path.join(root, target))) {
      const reason = serviceReason(target, seen);
      if (reason) return `${file} → ${reason}`;
    }
  }
  return undefined;
}

function testFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return testFiles(rel);
    return entry.name.endsWith('.test.ts') ? [rel] : [];
  });
}

describe('the unit lane (test/unit-lane.js)', () => {
  it('lists only files that exist, once each', () => {
    expect(unitLane.filter((file) => !fs.existsSync(path.join(root, file)))).toEqual([]);
    expect(new Set(unitLane).size).toBe(unitLane.length);
  });

  it('holds no file that needs a service, a process or dist/', () => {
    expect(unitLane.map((file) => serviceReason(file)).filter(Boolean)).toEqual([]);
  });

  it('leaves out only files that need one (a new service-free test belongs in the lane)', () => {
    const missing = testFiles('test').filter((file) => !unitLane.includes(file) && !serviceReason(file));
    expect(missing).toEqual([]);
  });

  it('recognises a file that needs a service', () => {
    expect(serviceReason('test/integration/statement-deadline.test.ts')).toMatch(/imports (pg|src\/db\/pg-database\.ts)/);
    expect(serviceReason('test/ai/openai-personalizer.test.ts')).toMatch(/test\/fakes\/fake-openai\.ts imports node:http/);
  });
});
