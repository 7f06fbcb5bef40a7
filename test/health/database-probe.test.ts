import { Client } from 'pg';
import { createPgDatabase } from '../../src/db/pg-database';
import { ProbeFailure } from '../../src/health/health-monitor';
import { databaseProbe } from '../../src/health/probes';
import { ADMIN_DATABASE_URL } from '../support/env';
import { openScratchDatabase, quietLogger, type ScratchDatabase } from '../support/harness';
import { startPrivatePostgres, startPrivateStandby } from '../support/private-services';

/**
 * The database probe asks whether the database can take writes, not only whether it answers:
 * a read-only database answers every SELECT and refuses every write.
 */
describe('database probe on PostgreSQL', () => {
  let scratch: ScratchDatabase;
  // From the admin database: the scratch database itself may be read-only at the time.
  const admin = async (sql: string) => {
    const c = new Client({ connectionString: ADMIN_DATABASE_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const failureOf = async (check: () => Promise<void>) =>
    check().then(
      () => undefined,
      (err: unknown) => err,
    );

  beforeAll(async () => {
    scratch = await openScratchDatabase('postgres');
  });
  afterAll(async () => {
    await scratch.close();
  });

  it('passes on a writable database', async () => {
    await expect(databaseProbe(scratch.db).check()).resolves.toBeUndefined();
  });

  it('reports a session whose transactions are read-only', async () => {
    const url = new URL(scratch.url!);
    url.searchParams.set('options', '-c default_transaction_read_only=on');
    const readOnly = createPgDatabase({ url: url.toString(), poolMax: 1, queryTimeoutMs: 5_000, applicationName: 'probe test', logger: quietLogger });
    try {
      await expect(readOnly.query(`INSERT INTO tenants (id, name) VALUES ('ro', 'RO')`)).rejects.toThrow(/read-only transaction/);
      const err = await failureOf(() => databaseProbe(readOnly).check());
      expect(err).toBeInstanceOf(ProbeFailure);
      expect(err).toMatchObject({ status: 'read-only', message: expect.stringContaining('cannot take writes') });
    } finally {
      await readOnly.close();
    }
  });

  it('reports ALTER DATABASE ... SET default_transaction_read_only before the pool reconnects', async () => {
    // The pool's open connection was made before the setting and still writes; new ones will not.
    await scratch.db.query('SELECT 1');
    const dbName = new URL(scratch.url!).pathname.slice(1);
    await admin(`ALTER DATABASE "${dbName}" SET default_transaction_read_only = on`);
    try {
      const err = await failureOf(() => databaseProbe(scratch.db).check());
      expect(err).toMatchObject({ status: 'read-only' });
      // A role-in-database setting is more specific than the database's and wins, as in PostgreSQL.
      await admin(`ALTER ROLE CURRENT_USER IN DATABASE "${dbName}" SET default_transaction_read_only = off`);
      await expect(databaseProbe(scratch.db).check()).resolves.toBeUndefined();
    } finally {
      await admin(`ALTER ROLE CURRENT_USER IN DATABASE "${dbName}" RESET default_transaction_read_only`);
      await admin(`ALTER DATABASE "${dbName}" RESET default_transaction_read_only`);
    }
    await expect(databaseProbe(scratch.db).check()).resolves.toBeUndefined();
  });
});

describe('database probe on a hot standby', () => {
  let primary: Awaited<ReturnType<typeof startPrivatePostgres>>;
  let standby: Awaited<ReturnType<typeof startPrivateStandby>>;
  beforeAll(async () => {
    primary = await startPrivatePostgres();
    standby = await startPrivateStandby(primary);
  });
  afterAll(async () => {
    await standby?.destroy();
    await primary?.destroy();
  });

  it('reports the standby as read-only, the primary as connected', async () => {
    const onStandby = createPgDatabase({ url: standby.url, poolMax: 1, queryTimeoutMs: 5_000, applicationName: 'probe test', logger: quietLogger });
    const onPrimary = createPgDatabase({ url: primary.url, poolMax: 1, queryTimeoutMs: 5_000, applicationName: 'probe test', logger: quietLogger });
    try {
      await expect(onStandby.query('CREATE TABLE t (id int)')).rejects.toThrow(/read-only transaction/);
      await expect(databaseProbe(onStandby).check()).rejects.toMatchObject({
        status: 'read-only',
        message: expect.stringContaining('standby (in recovery)'),
      });
      await expect(databaseProbe(onPrimary).check()).resolves.toBeUndefined();
    } finally {
      await onStandby.close();
      await onPrimary.close();
    }
  });
});

describe('database probe on PGlite', () => {
  let scratch: ScratchDatabase;
  beforeAll(async () => {
    scratch = await openScratchDatabase('pglite');
  });
  afterAll(async () => {
    await scratch.close();
  });

  it('passes on the embedded database', async () => {
    await expect(databaseProbe(scratch.db).check()).resolves.toBeUndefined();
  });
});
