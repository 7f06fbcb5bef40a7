import { Client } from 'pg';
import type { Database } from '../../src/db/database';
import { createPgDatabase } from '../../src/db/pg-database';
import { openScratchDatabase, quietLogger, type ScratchDatabase } from '../support/harness';
import { waitFor } from '../support/wait';

const DEADLINE_MS = 500;

/**
 * DB_QUERY_TIMEOUT_MS is a server-side deadline: a statement that outlives it is cancelled by
 * PostgreSQL, so the caller's error means "not written". With a client-side timer only, the
 * statement went on waiting for its lock and committed after the caller had been told it failed.
 */
describe('a statement past the deadline is cancelled, not committed later', () => {
  let scratch: ScratchDatabase;
  let db: Database;
  let blocker: Client;

  beforeAll(async () => {
    scratch = await openScratchDatabase('postgres');
    db = createPgDatabase({ url: scratch.url!, poolMax: 3, queryTimeoutMs: DEADLINE_MS, applicationName: 'deadline test', logger: quietLogger });
    await scratch.db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Before')`);
  });
  afterAll(async () => {
    await db.close();
    await scratch.close();
  });

  const backendsOf = async (applicationName: string) =>
    Number(
      (await scratch.db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`, [applicationName]))
        .rows[0]!.n,
    );

  const holdingLock = async (lockSql: string, fn: () => Promise<void>) => {
    blocker = new Client({ connectionString: scratch.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(lockSql);
    try {
      await fn();
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    // Whatever the blocked statement does once the lock is gone, it has done it when no statement
    // of the deadline pool is running any more.
    await waitFor('no statement of the pool still running', async () => (await backendsOf('deadline test')) === 0);
  };

  it('a single statement (autocommit) blocked by a row lock', async () => {
    await holdingLock(`SELECT * FROM tenants WHERE id = 't1' FOR UPDATE`, async () => {
      await expect(db.query(`UPDATE tenants SET name = 'After' WHERE id = 't1'`)).rejects.toThrow();
    });
    const row = await scratch.db.query<{ name: string }>(`SELECT name FROM tenants WHERE id = 't1'`);
    expect(row.rows[0]!.name).toBe('Before');
  });

  it('a statement in a transaction blocked by a table lock', async () => {
    await holdingLock(`LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE`, async () => {
      await expect(db.transaction((tx) => tx.query(`INSERT INTO tenants (id, name) VALUES ('t2', 'New')`))).rejects.toThrow();
    });
    expect((await scratch.db.query(`SELECT 1 FROM tenants WHERE id = 't2'`)).rowCount).toBe(0);
  });

  it('the connection is free again: the next statement runs', async () => {
    await holdingLock(`LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE`, async () => {
      const blocked = await Promise.allSettled([1, 2, 3, 4, 5].map(() => db.query(`SELECT count(*) FROM tenants`)));
      expect(blocked.every((r) => r.status === 'rejected')).toBe(true);
      // Five deadlines on a pool of three: each cancelled statement gave its connection back.
      await expect(db.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
    });
  });
});
