import { createTestDatabase, type TestDatabase } from '../support/services';
import { withClient } from '../support/probe';
import { spawnWorker, REPO_ROOT } from '../support/worker-process';
import path from 'node:path';
import { readMigrations } from '../../src/db/migrate';

describe('migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('several `npm run migrate` processes at once apply each migration exactly once', async () => {
    const script = path.join(REPO_ROOT, 'dist', 'db', 'migrate-cli.js');
    const runs = [1, 2, 3, 4].map((n) => spawnWorker(`migrate-${n}`, { DATABASE_URL: db.url }, { script }));
    const exits = await Promise.all(runs.map((r) => r.waitForExit()));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0, 0]);
    const applied = runs.flatMap((r) => r.logs.filter((l) => l.message === 'migration applied').map((l) => l.migration));
    const migrations = await withClient(db.url, (c) => c.query<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id'));
    // Every migration was applied by exactly one of the four processes.
    expect(applied.sort()).toHaveLength(migrations.rows.length);
    expect(new Set(applied).size).toBe(applied.length);
    // …and every migration file shipped is there (numbers may leave gaps between module ranges).
    expect(migrations.rows.map((r) => Number(r.id))).toEqual(readMigrations(path.join(REPO_ROOT, 'dist', 'db', 'migrations')).map((m) => m.id));
  });
});
