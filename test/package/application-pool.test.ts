import { Pool } from 'pg';
import {
  createFollowUpService,
  IdempotencyKeyConflictError,
  loadConfig,
  pgTransaction,
  type PgPoolLike,
  ValidationError,
  type FollowUpService,
  type ScheduleRequest,
} from '../../src/index';
import { openMigratedDatabase } from '../support/harness';
import { createTestDatabase, type TestDatabase } from '../support/services';

/**
 * The public entry point used the way an application whose worker runs elsewhere uses it: a
 * FollowUpService over the application's own pg Pool, and messages inside the application's own
 * transactions, on a real PostgreSQL database the worker's migrations have set up.
 */
describe('createFollowUpService over the application pool', () => {
  let database: TestDatabase;
  let pool: Pool;
  let followUps: FollowUpService;

  beforeAll(async () => {
    // A plain database: the application's connections keep PostgreSQL's search_path (public),
    // where this CRM has a contacts table of its own that crm-worker must never touch.
    database = await createTestDatabase({ plain: true });
    const migrated = await openMigratedDatabase('postgres', database.url);
    await migrated.close();
    pool = new Pool({ connectionString: database.url, max: 3 });
    await pool.query(`CREATE TABLE public.contacts (id serial PRIMARY KEY, full_name text); INSERT INTO public.contacts (full_name) VALUES ('Ann')`);
    await pool.query(`INSERT INTO crm_worker.tenants (id, name) VALUES ('t1', 'Tenant one')`);
    followUps = createFollowUpService(pool, loadConfig({ WEBHOOK_TARGETS: 'crm=https://crm.example.com/hook' }));
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  const request = (idempotencyKey: string, overrides: Partial<ScheduleRequest> = {}): ScheduleRequest => ({
    tenantId: 't1',
    channel: 'webhook',
    recipient: 'crm',
    scheduledAt: new Date(Date.now() + 3_600_000),
    template: 'Call back {{ name }}',
    variables: { name: 'Ann' },
    idempotencyKey,
    ...overrides,
  });

  /** The application's own transaction: BEGIN, fn, then COMMIT or ROLLBACK as told. */
  async function inApplicationTransaction(outcome: 'COMMIT' | 'ROLLBACK', fn: (client: import('pg').PoolClient) => Promise<void>) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`CREATE TABLE IF NOT EXISTS app_deals (id text PRIMARY KEY)`);
      await fn(client);
      await client.query(outcome);
    } finally {
      client.release();
    }
  }

  it('keeps a message with the application write it was scheduled beside, and drops it with a rollback', async () => {
    await inApplicationTransaction('ROLLBACK', async (client) => {
      await client.query(`INSERT INTO app_deals (id) VALUES ('d-rolled-back')`);
      const result = await followUps.schedule([request('pool-rolled-back')], pgTransaction(client));
      expect(result.scheduled).toBe(1);
    });
    await inApplicationTransaction('COMMIT', async (client) => {
      await client.query(`INSERT INTO app_deals (id) VALUES ('d-committed')`);
      await followUps.schedule([request('pool-committed')], pgTransaction(client));
      // The application's own search_path is back for its next statement: its contacts, not crm-worker's.
      expect((await client.query(`SHOW search_path`)).rows).toEqual([{ search_path: '"$user", public' }]);
      expect((await client.query(`SELECT full_name FROM contacts`)).rows).toEqual([{ full_name: 'Ann' }]);
      // Not visible outside the transaction before it commits.
      expect(await followUps.get({ idempotencyKey: 'pool-committed', tenantId: 't1' })).toBeUndefined();
    });
    expect(await followUps.get({ idempotencyKey: 'pool-rolled-back', tenantId: 't1' })).toBeUndefined();
    expect(await followUps.get({ idempotencyKey: 'pool-committed', tenantId: 't1' })).toEqual(
      expect.objectContaining({ status: 'scheduled', channel: 'webhook', recipient: 'crm' }),
    );
    expect((await pool.query(`SELECT id FROM app_deals ORDER BY id`)).rows).toEqual([{ id: 'd-committed' }]);
  });

  it('validates as the worker does, naming the field, with nothing written', async () => {
    const before = (await pool.query(`SELECT count(*)::int AS n FROM crm_worker.scheduled_messages`)).rows[0].n;
    const unknownTarget = followUps.schedule([request('pool-bad-target', { recipient: 'nowhere' })]);
    await expect(unknownTarget).rejects.toBeInstanceOf(ValidationError);
    await expect(unknownTarget).rejects.toMatchObject({ field: 'recipient' });
    await expect(followUps.schedule([request('pool-bad-time', { scheduledAt: new Date('not a time') })])).rejects.toMatchObject({ field: 'scheduledAt' });
    await followUps.schedule([request('pool-key')]);
    await expect(followUps.schedule([request('pool-key', { template: 'Another text' })])).rejects.toBeInstanceOf(IdempotencyKeyConflictError);
    expect((await pool.query(`SELECT count(*)::int AS n FROM crm_worker.scheduled_messages`)).rows[0].n).toBe(before + 1);
  });

  it('runs its own transactions on the application pool (cancel, a recorded response) and leaves the pool usable', async () => {
    await followUps.schedule([request('pool-answered', { stopOnReply: true })]);
    const answered = await followUps.recordResponse({ idempotencyKey: 'pool-answered', tenantId: 't1', text: 'Yes, call me' });
    expect(answered).toEqual(expect.objectContaining({ responseText: 'Yes, call me' }));
    expect(await followUps.cancel(['pool-committed'], undefined, 't1')).toBe(1);
    expect((await followUps.get({ idempotencyKey: 'pool-committed', tenantId: 't1' }))?.status).toBe('cancelled');
    await followUps.schedule([request('pool-sent-elsewhere')]);
    expect(await followUps.markSent({ idempotencyKey: 'pool-sent-elsewhere', tenantId: 't1', sentBy: 'concierge' })).toEqual({
      marked: true,
      nextOccurrenceId: null,
    });
    await expect(followUps.recordResponse({ idempotencyKey: 'pool-missing', tenantId: 't1', text: 'x' })).rejects.toMatchObject({ field: 'idempotencyKey' });
    // Every transaction above gave its connection back: the pool of three still serves four at once.
    const counts = await Promise.all([1, 2, 3, 4].map(() => pool.query('SELECT 1 AS one')));
    expect(counts.map((r) => r.rows[0].one)).toEqual([1, 1, 1, 1]);
    expect(pool.totalCount).toBeLessThanOrEqual(3);
  });

  it('fails only the call whose connection the server terminated, not the application process', async () => {
    // The application's pool hands out one connection whose backend is then terminated, as a
    // restart or pg_terminate_backend does, while crm-worker's transaction holds it. pg
    // emits 'error' on a checked-out client whose connection ends; with no listener that is an
    // uncaught exception in the application, so the transaction listens while it holds the client.
    let terminate = true;
    const terminating: PgPoolLike = {
      query: (text, values) => pool.query(text, values),
      async connect() {
        const client = await pool.connect();
        if (!terminate) return client;
        terminate = false;
        // The backend is terminated when crm-worker sends its first statement (BEGIN) on the
        // connection, by then holding it; pg's own client is what crm-worker listens on.
        let first = true;
        return {
          async query(text: string, values?: unknown[]) {
            if (first) {
              first = false;
              await pool.query('SELECT pg_terminate_backend($1)', [(client as unknown as { processID: number }).processID]);
            }
            return client.query(text, values);
          },
          release: (err?: Error | boolean) => client.release(err),
          on: (event: 'error', listener: (err: Error) => void) => client.on(event, listener),
          off: (event: 'error', listener: (err: Error) => void) => client.off(event, listener),
        };
      },
    };
    const overTerminated = createFollowUpService(terminating, loadConfig({ WEBHOOK_TARGETS: 'crm=https://crm.example.com/hook' }));
    await expect(overTerminated.schedule([request('pool-terminated')])).rejects.toThrow(/terminat|Connection/i);
    expect(await followUps.get({ idempotencyKey: 'pool-terminated', tenantId: 't1' })).toBeUndefined();
    // The lost connection was not handed back: the next call gets a live one.
    await overTerminated.schedule([request('pool-terminated')]);
    expect((await followUps.get({ idempotencyKey: 'pool-terminated', tenantId: 't1' }))?.status).toBe('scheduled');
  });
});
