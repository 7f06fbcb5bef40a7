import type { Database } from '../../src/db/database';
import type { JobDefinition } from '../../src/scheduler/job';
import { finishRun } from '../../src/scheduler/job-runs';
import { runTick } from '../../src/scheduler/run-tick';
import type { RedisClient } from '../../src/redis/redis-client';
import { connectTestRedis, openMigratedDatabase, replica } from '../support/harness';
import { TEST_REDIS_URL, createKeyPrefix, createTestDatabase, type TestDatabase } from '../support/services';

const RECORD_OUTCOME = /^UPDATE job_runs SET outcome = \$2/;

/**
 * The database, with the connection that first runs the outcome UPDATE terminated by PostgreSQL
 * itself (pg_terminate_backend on its own backend) in the statement's place: a backend killed at
 * the moment a finished run records its outcome, as the PostgreSQL fault test does at random.
 */
function killingFirstOutcome(db: Database): Database & { killed: number } {
  const wrapped = Object.create(db) as Database & { killed: number };
  wrapped.killed = 0;
  wrapped.query = (async (text: string, params?: unknown[], options?: unknown) => {
    if (wrapped.killed === 0 && RECORD_OUTCOME.test(text)) {
      wrapped.killed++;
      return db.query('SELECT pg_terminate_backend(pg_backend_pid())');
    }
    return (db.query as (...a: unknown[]) => Promise<unknown>)(text, params, options);
  }) as Database['query'];
  return wrapped;
}

describe('a finished run whose outcome UPDATE loses its connection', () => {
  const keys = createKeyPrefix();
  let testDb: TestDatabase;
  let db: Database;
  let redis: RedisClient;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openMigratedDatabase('postgres', testDb.url);
    redis = await connectTestRedis(TEST_REDIS_URL);
  });
  afterAll(async () => {
    await db.close();
    await redis.quit();
    await keys.removeKeys();
    await testDb.drop();
  });

  const job: JobDefinition = {
    name: 'outcome-job',
    healthKey: 'outcome-job',
    schedule: '* * * * * *',
    description: 'test job that writes once',
    async run(ctx) {
      await ctx.db.query('SELECT 1');
      return { items: 3 };
    },
  };

  it('is recorded as succeeded on a new connection, not left for the next holder to call abandoned', async () => {
    const flaky = killingFirstOutcome(db);
    const fireTime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    const result = await runTick(replica('replica-a', flaky, redis, keys.prefix), job, fireTime);
    expect(flaky.killed).toBe(1);
    expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 3 }));
    const rows = await db.query<{ outcome: string; items: number }>('SELECT outcome, items FROM job_runs WHERE job = $1', [job.name]);
    expect(rows.rows).toEqual([{ outcome: 'succeeded', items: 3 }]);
  });

  it("a late outcome replaces the next holder's 'abandoned'", async () => {
    const fireTime = new Date(Math.floor(Date.now() / 1000) * 1000 - 120_000);
    const a = replica('replica-b', db, redis, keys.prefix);
    const result = await runTick(a, { ...job, name: 'late-outcome-job', healthKey: 'late-outcome-job' }, fireTime);
    expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
    const runId = (result as { runId: string }).runId;
    // As if its record had failed and the next holder had guessed; then the record comes through.
    await db.query(`UPDATE job_runs SET outcome = 'abandoned' WHERE run_id = $1`, [runId]);
    await finishRun(db, runId, { outcome: 'succeeded', items: 3 });
    const rows = await db.query<{ outcome: string }>('SELECT outcome FROM job_runs WHERE run_id = $1', [runId]);
    expect(rows.rows).toEqual([{ outcome: 'succeeded' }]);
  });
});
