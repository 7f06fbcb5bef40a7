import { runClockEnv } from '../support/faketime';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { REPO_ROOT } from '../support/worker-process';

const EXAMPLE_DIR = path.join(REPO_ROOT, 'examples', 'typescript');
const TSC = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const repoPackage = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<Run> {
  // A clean environment: nothing of this test run's own settings (DATABASE_URL, REDIS_URL, ...) leaks in.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir(), ...options.env };
  return new Promise((resolve) => {
    execFile(file, args, { cwd: options.cwd, env, timeout: options.timeoutMs ?? 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? Number((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function expectOk(what: string, result: Run): Run {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

/**
 * crm-worker as a CRM installs it: `npm pack`, a new Node application that installs the tarball
 * and imports the package by name, compiled from examples/typescript with TypeScript against the
 * package's declarations, then run against this test's PostgreSQL database and a loopback
 * webhook receiver.
 */
describe('the packed package in a new application', () => {
  let workDir: string;
  let appDir: string;
  let tarball: string;
  let sink: WebhookSink;
  let database: TestDatabase;

  beforeAll(async () => {
    if (!existsSync(path.join(REPO_ROOT, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run `npm run build` first');
    workDir = mkdtempSync(path.join(os.tmpdir(), 'crmw-pack-'));
    appDir = path.join(workDir, 'app');
    // --ignore-scripts: pack the dist/ this run was built with; rebuilding it here would rewrite
    // files that other tests' worker processes are loading.
    expectOk('npm pack', await run('npm', ['pack', '--ignore-scripts', '--pack-destination', workDir], { cwd: REPO_ROOT }));
    const packed = readdirSync(workDir).filter((f) => f.endsWith('.tgz'));
    expect(packed).toHaveLength(1);
    tarball = path.join(workDir, packed[0]!);

    cpSync(EXAMPLE_DIR, appDir, { recursive: true });
    expectOk('npm init', await run('npm', ['init', '-y'], { cwd: appDir }));
    // The versions the repository's own install used, so npm finds them in its cache.
    const install = [
      tarball,
      `pg@${repoPackage.dependencies.pg}`,
      `@types/node@${repoPackage.devDependencies['@types/node']}`,
      `@types/pg@${repoPackage.devDependencies['@types/pg']}`,
    ];
    expectOk('npm install', await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...install], { cwd: appDir }));

    sink = await startWebhookSink();
    database = await createTestDatabase();
  }, 600_000);

  afterAll(async () => {
    await sink?.close();
    await database?.drop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('ships the build, its migrations and the newcomer files, and no tests or sources', async () => {
    const listing = expectOk('tar', await run('tar', ['tzf', tarball], { cwd: workDir }))
      .stdout.split('\n')
      .filter(Boolean);
    expect(listing).toEqual(
      expect.arrayContaining([
        'package/dist/index.js',
        'package/dist/index.d.ts',
        'package/dist/cli/index.js',
        'package/dist/db/migrations/0003_delivery_outbox.sql',
        'package/README.md',
        'package/LICENSE',
        'package/CHANGELOG.md',
        'package/.env.example',
      ]),
    );
    expect(listing.filter((f) => /\.test\.|^package\/(src|test|bench|examples)\//.test(f))).toEqual([]);
  });

  it('type-checks and compiles the TypeScript example against the package by name', async () => {
    // No skipLibCheck: the package's own declarations are checked as well as the example.
    expectOk('tsc', await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: appDir }));
    expect(existsSync(path.join(appDir, 'dist', 'schedule-once.js'))).toBe(true);
  });

  it('exposes only its entry point: a deep import is refused', async () => {
    const result = await run(process.execPath, ['-e', "require('crm-worker/dist/main')"], { cwd: appDir });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('puts the operator CLI on the PATH (npx crm-worker)', async () => {
    const help = expectOk('npx crm-worker --help', await run('npx', ['--offline', 'crm-worker', '--help'], { cwd: appDir }));
    expect(help.stdout + help.stderr).toContain('crm-worker health');
    // On the embedded default (no DATABASE_URL) a database command says why it cannot run.
    const dead = await run('npx', ['--offline', 'crm-worker', 'dead', 'list'], { cwd: appDir });
    expect(dead.code).toBe(2);
    expect(dead.stderr).toContain('DATABASE_URL is not set');
  });

  it('delivers a message scheduled in the application transaction once, not before its time; a rolled-back one never', async () => {
    expect(existsSync(path.join(appDir, 'dist', 'schedule-once.js'))).toBe(true);
    const result = await run(process.execPath, ['dist/schedule-once.js'], {
      cwd: appDir,
      env: {
        // A year ahead (scripts/test-year-ahead.sh) the application keeps the database's moved clock.
        ...runClockEnv(),
        DATABASE_URL: database.url,
        WEBHOOK_TARGETS: `crm=${sink.url}`,
        WEBHOOK_ALLOW_PRIVATE: 'true',
        JOBS_ENABLED: 'false',
        PORT: '0',
        LOG_LEVEL: 'warn',
        EXAMPLE_SEND_IN_MS: '2000',
      },
    });
    expectOk('the example application', result);
    const events = result.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
    const scheduled = events.find((e) => e.event === 'scheduled')!;
    const final = events.find((e) => e.event === 'final')!;
    expect(scheduled).toEqual(expect.objectContaining({ scheduled: 1 }));
    expect(final).toEqual(expect.objectContaining({ key: scheduled.key, status: 'sent', attempts: 1 }));
    expect(events.find((e) => e.event === 'rolled-back-stored')).toEqual(expect.objectContaining({ stored: false }));

    // The application has stopped its worker: nothing more can arrive. One request in all, for
    // the committed message only, and none before its time.
    expect(sink.requests.map((r) => r.key)).toEqual([scheduled.key]);
    expect(sink.deliveries).toHaveLength(1);
    expect(sink.deliveries[0]!.body).toEqual(expect.objectContaining({ message: 'Call back Ann about the proposal' }));
    expect(sink.deliveries[0]!.receivedAt).toBeGreaterThanOrEqual(new Date(scheduled.scheduledAt).getTime());

    // The same on the database's own clock, which the dispatcher sends by.
    const client = new Client({ connectionString: database.url });
    await client.connect();
    try {
      const rows = await client.query(`SELECT idempotency_key, status, sent_at >= scheduled_at AS on_time FROM scheduled_messages ORDER BY id`);
      expect(rows.rows).toEqual([{ idempotency_key: scheduled.key, status: 'sent', on_time: true }]);
    } finally {
      await client.end();
    }
  });
});
