import { loadConfig } from '../../src/config/config';
import { startWorker } from '../../src/worker';
import { createCapturingLogger } from '../fakes/capturing-logger';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';

const NEVER = '0 0 0 1 1 *';

// Each start-up step registers its own shutdown step; the sequence runs them in reverse, so what
// opened last closes first: the scheduler drains while modules, the server and clients are open.
describe('startWorker: ordered shutdown', () => {
  let database: TestDatabase;
  const keys = createKeyPrefix();

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
    await keys.removeKeys();
  });

  it('stops the scheduler, then the modules, the HTTP server, the health monitor, Redis and the pools last', async () => {
    const { logger, lines } = createCapturingLogger();
    const config = loadConfig({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      PORT: '0',
      INSTANCE_ID: 'shutdown-order',
      TRIAL_EXPIRATION_CRON: NEVER,
      CALL_CLEANUP_CRON: NEVER,
    });
    const worker = await startWorker(config, { logger });
    expect((await fetch(`http://127.0.0.1:${worker.port}/health`)).status).toBe(200);
    await worker.stop();

    const steps = lines
      .map((line) => JSON.parse(line) as { message: string; step?: string })
      .filter((entry) => entry.message === 'shutdown step done' || entry.message === 'shutdown step failed; continuing')
      .map((entry) => `${entry.step}${entry.message === 'shutdown step done' ? '' : ' (failed)'}`);
    expect(steps).toEqual([
      'scheduler',
      'module delivery',
      'http',
      'health monitor',
      'redis',
      'database health',
      'database jobs',
      'database dispatcher',
      'database api',
    ]);
  });
});
