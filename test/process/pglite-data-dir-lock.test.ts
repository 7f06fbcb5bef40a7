import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPgliteDatabase } from '../../src/db/pglite-database';
import { LOCK_FILE_NAME } from '../../src/db/data-dir-lock';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { freshPgliteDir } from '../support/pglite-template';

/**
 * Two processes on one embedded data folder both started and lost each other's writes. The second
 * must refuse with a clear message; a lock left by a process that is gone must not block a start.
 */
describe('embedded PGlite data folder: one process at a time', () => {
  const workers: WorkerProcess[] = [];
  const dataDir = freshPgliteDir('crmw-pglite-lock-');
  afterAll(async () => {
    await killAll(workers);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a second worker on the same folder refuses to start and names the holder; the first keeps serving', async () => {
    const first = spawnWorker('pglite-first', { PGLITE_DATA_DIR: dataDir, JOBS_ENABLED: 'false' });
    workers.push(first);
    await waitUntilStarted(first, 120_000);

    const second = spawnWorker('pglite-second', { PGLITE_DATA_DIR: dataDir, JOBS_ENABLED: 'false' });
    workers.push(second);
    const exit = await second.waitForExit(120_000);
    expect(exit.code).not.toBe(0);
    expect(second.logs.some((l) => l.message === 'crm-worker started')).toBe(false);
    const failure = second.logs.find((l) => l.message === 'startup failed');
    expect(String(failure?.error)).toContain(`in use by process ${first.child.pid}`);

    expect((await first.get('/health')).status).toBe(200);
    first.kill('SIGTERM');
    expect((await first.waitForExit()).code).toBe(0);
    // A clean stop removes the lock file.
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE_NAME))).toBe(false);
  });

  it('a lock file left by a process that is gone is taken over', async () => {
    const gone = spawnSync(process.execPath, ['-e', '0']);
    expect(gone.pid).toBeGreaterThan(0);
    fs.writeFileSync(path.join(dataDir, LOCK_FILE_NAME), JSON.stringify({ pid: gone.pid, host: os.hostname() }));
    const db = await createPgliteDatabase(dataDir);
    try {
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(JSON.parse(fs.readFileSync(path.join(dataDir, LOCK_FILE_NAME), 'utf8')).pid).toBe(process.pid);
    } finally {
      await db.close();
    }
  });
});
