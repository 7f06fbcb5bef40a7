import net from 'node:net';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';

/** Whether something accepts TCP connections at host:port right now. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('IS_WORKER and BIND_ADDRESS in a worker process', () => {
  const keys = createKeyPrefix();
  const workers: WorkerProcess[] = [];
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await killAll(workers);
    await keys.removeKeys();
    await db.drop();
  });

  it('IS_WORKER=false serves HTTP with no cron job registered, as JOBS_ENABLED=false', async () => {
    const worker = spawnWorker('http-only', {
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      IS_WORKER: 'false',
      TRIAL_EXPIRATION_CRON: '*/1 * * * * *',
    });
    workers.push(worker);
    const started = await waitUntilStarted(worker);
    expect(started.jobs).toEqual([]);
    const health = await worker.get('/health');
    expect(health.status).toBe(200);
    expect(health.json().jobs).toEqual({});
    // The delivery engine still runs: an HTTP-only replica delivers, as with JOBS_ENABLED=false.
    expect(worker.logs.find((l) => l.message === 'delivery dispatcher started')?.enabled).toBe(true);
  });

  it('IS_WORKER and JOBS_ENABLED saying different things is a config error (exit 78)', async () => {
    const worker = spawnWorker('mode-conflict', { DATABASE_URL: db.url, IS_WORKER: 'false', JOBS_ENABLED: 'true' });
    workers.push(worker);
    const exit = await worker.waitForExit();
    expect(exit.code).toBe(78);
    expect(worker.stderr.join('')).toMatch(/config error: IS_WORKER: is false but JOBS_ENABLED is true/);
  });

  it('BIND_ADDRESS is the only address the HTTP server listens on', async () => {
    // 127.0.0.2 is loopback too on Linux: listening there must leave 127.0.0.1 closed.
    const worker = spawnWorker('bound', { DATABASE_URL: db.url, IS_WORKER: 'false', BIND_ADDRESS: '127.0.0.2' });
    workers.push(worker);
    await waitUntilStarted(worker);
    const listening = await worker.waitForLog('http listening', (l) => l.message === 'http listening');
    expect(listening.address).toBe('127.0.0.2');
    const port = Number(listening.port);
    expect((await fetch(`http://127.0.0.2:${port}/health/live`)).status).toBe(200);
    expect(await accepts('127.0.0.1', port)).toBe(false);
  });
});
