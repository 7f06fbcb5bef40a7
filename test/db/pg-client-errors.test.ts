import { Client } from 'pg';
import { createPgDatabase } from '../../src/db/pg-database';
import type { Database } from '../../src/db/database';
import { quietLogger } from '../support/harness';
import { createTestDatabase } from '../support/services';
import { waitFor } from '../support/wait';

/**
 * A backend terminated while a transaction holds its client (server restart, failover,
 * pg_terminate_backend) makes pg emit 'error' on that client. Without a listener on checked-out
 * clients that is an uncaught exception and the process exits; it must be an error of that
 * transaction only, and the pool must go on serving.
 */
describe('pg database: a connection lost inside a transaction', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Database;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = createPgDatabase({ url: testDb.url, poolMax: 3, queryTimeoutMs: 10_000, applicationName: 'crm-worker test', logger: quietLogger });
    process.on('uncaughtException', onUncaught);
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await db.close();
    await testDb.drop();
  });

  const terminate = async (pid: number) => {
    const admin = new Client({ connectionString: testDb.url });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await waitFor('the backend to be gone', async () => {
        const r = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
        return r.rowCount === 0;
      });
    } finally {
      await admin.end();
    }
  };

  it('fails that transaction, emits nothing uncaught, and the pool still works', async () => {
    const outcome = db.transaction(async (tx) => {
      const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // The client is idle in transaction (as while a send is in flight) when its backend dies.
      await terminate(rows[0]!.pid);
      // Give the client's socket time to read the FATAL message and the close.
      await waitFor('a few round trips on other connections', async () => (await db.query('SELECT 1')).rowCount === 1);
      await new Promise((r) => setImmediate(r));
      await tx.query('SELECT 1');
      return 'committed';
    });
    await expect(outcome).rejects.toThrow();
    expect(uncaught).toEqual([]);
    // The broken client was discarded: every further transaction works.
    for (let i = 0; i < 5; i++) {
      await expect(db.transaction(async (tx) => (await tx.query('SELECT 1 AS one')).rows)).resolves.toEqual([{ one: 1 }]);
    }
  });
});
