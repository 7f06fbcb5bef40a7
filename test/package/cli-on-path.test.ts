import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killAll, REPO_ROOT, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { freshPgliteDir } from '../support/pglite-template';

// npx's own cache, new for this run: the first `npx crm-worker` of a fresh clone, as a newcomer's.
const npmCache = mkdtempSync(path.join(os.tmpdir(), 'crmw-npx-cache-'));

function npx(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['--offline', 'crm-worker', ...args],
      {
        cwd: REPO_ROOT,
        // Only what the command is given: no DATABASE_URL or REDIS_URL of the test run.
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir(), npm_config_cache: npmCache, ...env },
        timeout: 60_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The operator CLI after the README's install (npm ci), as `npx crm-worker`, on the embedded default. */
describe('npx crm-worker in the repository', () => {
  const workers: WorkerProcess[] = [];
  const dataDir = freshPgliteDir('crmw-cli-pglite-');
  afterAll(async () => {
    await killAll(workers);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(npmCache, { recursive: true, force: true });
  });

  it('prints its usage, without rebuilding dist/ under running workers', async () => {
    // npm exec runs the project's `prepare`; a full build there deleted dist/ while other worker
    // processes started from it. The build runs only when the sources are newer than dist/.
    const before = statSync(path.join(REPO_ROOT, 'dist', 'main.js')).mtimeMs;
    const help = await npx(['--help']);
    expect(statSync(path.join(REPO_ROOT, 'dist', 'main.js')).mtimeMs).toBe(before);
    expect(help.code).toBe(0);
    // src/cli writes the usage to stderr when no command is given, --help included.
    expect(help.stdout + help.stderr).toContain('crm-worker dead list');
  });

  it('summarises the health of a worker on the embedded default (no DATABASE_URL, no REDIS_URL)', async () => {
    const worker = spawnWorker('cli-embedded', { DATABASE_URL: undefined, REDIS_URL: undefined, PGLITE_DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    workers.push(worker);
    await waitUntilStarted(worker);
    const health = await npx(['health'], { PORT: String(worker.port()) });
    expect(health.stderr).toBe('');
    expect(health.code).toBe(0);
    expect(health.stdout).toMatch(/^status: ok \(HTTP 200\)/);
    expect(health.stdout).toMatch(/redis\s+in-process/);
    expect(health.stdout).toMatch(/database\s+connected/);
  });

  it('says which setting a database command needs, instead of failing obscurely', async () => {
    const dead = await npx(['dead', 'list']);
    expect(dead.code).toBe(2);
    expect(dead.stderr).toContain('DATABASE_URL is not set');
  });
});
