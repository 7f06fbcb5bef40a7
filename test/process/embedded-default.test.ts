import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';

describe('the README run command with no services configured', () => {
  const workers: WorkerProcess[] = [];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-embedded-'));
  afterAll(async () => {
    await killAll(workers);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('`npm start` runs on embedded PGlite and the in-process lock, and /health answers 200', async () => {
    // No DATABASE_URL, no REDIS_URL (spawnWorker strips them from the inherited environment).
    const worker = spawnWorker('embedded', { PGLITE_DATA_DIR: dataDir }, { command: 'npm', args: ['start', '--silent'] });
    workers.push(worker);
    await waitUntilStarted(worker, 120_000);
    const health = await worker.get('/health');
    expect(health.status).toBe(200);
    expect(health.json()).toEqual(
      expect.objectContaining({
        status: 'ok',
        services: {
          database: 'connected',
          redis: 'in-process',
          qdrant: 'disabled',
          knowledgeSync: 'disabled',
          qdrantSnapshot: 'disabled',
          telephony: 'disabled',
        },
        modes: { database: 'embedded-pglite', locks: 'in-process' },
      }),
    );
    expect(fs.readdirSync(dataDir).length).toBeGreaterThan(0);
    // The signal reaches npm and the worker alike; the worker's own line says it stopped cleanly.
    // npm may exit before the worker has written its last line, so wait for the line itself.
    worker.kill('SIGTERM');
    await waitFor('the worker to report a clean shutdown', () => worker.logs.some((l) => l.message === 'shutdown complete'));
  });
});
