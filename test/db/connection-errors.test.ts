import { Client } from 'pg';
import { isDatabaseUnavailable } from '../../src/db/connection-errors';
import { freePort } from '../support/private-services';
import { createTestDatabase } from '../support/services';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable: which errors mean "the database cannot be reached now"', () => {
  it('connection and server-going-away codes are', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08P01']) {
      expect({ code, unavailable: isDatabaseUnavailable(withCode(code)) }).toEqual({ code, unavailable: true });
    }
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(new AggregateError([withCode('ECONNREFUSED')], ''))).toBe(true);
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: withCode('57P01') }))).toBe(true);
  });

  it("errors of the statement itself are not (they stay the caller's or a bug)", () => {
    for (const code of ['23505', '23503', '42601', '42P01', '22P02', '40001', '57014']) {
      expect({ code, unavailable: isDatabaseUnavailable(withCode(code)) }).toEqual({ code, unavailable: false });
    }
    expect(isDatabaseUnavailable(new Error('something else'))).toBe(false);
    expect(isDatabaseUnavailable('ECONNREFUSED')).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });

  it('what node-postgres really throws for a port nobody listens on', async () => {
    const port = await freePort();
    const client = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    const err = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it('what node-postgres really throws when its backend is terminated (57P01)', async () => {
    const db = await createTestDatabase();
    const victim = new Client({ connectionString: db.url });
    const admin = new Client({ connectionString: db.url });
    await Promise.all([victim.connect(), admin.connect()]);
    victim.on('error', () => undefined);
    try {
      const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const running = victim.query('SELECT pg_sleep(30)').then(
        () => undefined,
        (e: unknown) => e,
      );
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      expect(isDatabaseUnavailable(await running)).toBe(true);
    } finally {
      await admin.end();
      await victim.end().catch(() => undefined);
      await db.drop();
    }
  });
});
