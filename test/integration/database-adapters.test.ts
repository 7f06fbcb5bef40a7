import type { Database } from '../../src/db/database';
import { openScratchDatabase, type ScratchDatabase } from '../support/harness';

// Code written against one adapter must behave the same on the other: rowCount in particular,
// which callers use to tell "found" from "not found".
describe.each(['postgres', 'pglite'] as const)('the %s adapter reports rowCount as pg does', (kind) => {
  let db: Database;
  let scratch: ScratchDatabase;

  beforeAll(async () => {
    scratch = await openScratchDatabase(kind);
    db = scratch.db;
    await db.query(`INSERT INTO tenants (id, name) VALUES ('a', 'A'), ('b', 'B'), ('c', 'C')`);
  });
  afterAll(async () => {
    await scratch.close();
  });

  it('SELECT: the rows returned', async () => {
    expect((await db.query(`SELECT id FROM tenants WHERE id IN ('a', 'b')`)).rowCount).toBe(2);
    expect((await db.query(`SELECT id FROM tenants WHERE id = 'none'`)).rowCount).toBe(0);
  });

  it('UPDATE with and without RETURNING: the rows changed', async () => {
    expect((await db.query(`UPDATE tenants SET name = name || '!' WHERE id <> 'c'`)).rowCount).toBe(2);
    expect((await db.query(`UPDATE tenants SET name = name || '!' WHERE id = 'c' RETURNING id`)).rowCount).toBe(1);
    expect((await db.transaction((tx) => tx.query(`SELECT id FROM tenants`))).rowCount).toBe(3);
  });
});

// warm() opens the connections the pool keeps through quiet spells, so the first busy moment
// does not wait for new connections; they stay open (the pool's idle minimum is 4).
describe('the postgres adapter warms its pool', () => {
  let scratch: ScratchDatabase;
  beforeAll(async () => {
    scratch = await openScratchDatabase('postgres');
  });
  afterAll(async () => {
    await scratch.close();
  });

  it('warm() opens four connections of its own', async () => {
    const open = async () =>
      Number((await scratch.db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()`)).rows[0]!.n);
    expect(await open()).toBeLessThan(4);
    await scratch.db.warm();
    expect(await open()).toBe(4);
  });
});
