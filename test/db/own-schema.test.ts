import fs from 'node:fs';
import { loadConfig, ConfigError } from '../../src/config/config';
import type { Database } from '../../src/db/database';
import { migrate, readMigrations } from '../../src/db/migrate';
import { createPgDatabase } from '../../src/db/pg-database';
import { createPgliteDatabase } from '../../src/db/pglite-database';
import { quietLogger } from '../support/harness';
import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { waitUntilStarted } from '../support/worker-process';
import { freshPgliteDir } from '../support/pglite-template';

/**
 * crm-worker keeps every table and function in its own schema (crm_worker, DATABASE_SCHEMA), so it
 * installs into a CRM's own database beside that CRM's tenants/contacts/leads, and an installation
 * from before (tables in public) is moved there without losing a row. These databases are created
 * "plain": their default search_path is PostgreSQL's, as a CRM's database would be.
 */

/** The CRM's own tables, of a different shape from crm-worker's, with rows. */
const CRM_TABLES = `
  CREATE TABLE public.tenants (tenant_key serial PRIMARY KEY, company text NOT NULL, plan text);
  CREATE TABLE public.contacts (id bigserial PRIMARY KEY, tenant_key int REFERENCES public.tenants, full_name text, email text UNIQUE);
  CREATE TABLE public.leads (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), contact_id bigint REFERENCES public.contacts, stage text);
  CREATE FUNCTION public.crm_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
  INSERT INTO public.tenants (company, plan) VALUES ('Acme', 'pro'), ('Globex', NULL);
  INSERT INTO public.contacts (tenant_key, full_name, email) VALUES (1, 'Ada', 'ada@acme.test'), (2, 'Bob', 'bob@globex.test');
  INSERT INTO public.leads (contact_id, stage) VALUES (1, 'new'), (2, 'won');
`;

/** Everything in schema public: relations with their columns and a checksum of their rows, functions. */
async function publicFingerprint(url: string): Promise<string[]> {
  return withClient(url, async (c) => {
    const relations = await c.query<{ name: string; kind: string; columns: string }>(
      `SELECT cl.relname AS name, cl.relkind::text AS kind,
              coalesce(string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum), '') AS columns
         FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'public' GROUP BY cl.relname, cl.relkind ORDER BY cl.relname`,
    );
    const out: string[] = [];
    for (const r of relations.rows) {
      let rows = '';
      if (r.kind === 'r')
        rows = (await c.query<{ sum: string }>(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS sum FROM public.${r.name} t`)).rows[0]!
          .sum;
      out.push(`${r.kind} ${r.name} (${r.columns}) ${rows}`);
    }
    const functions = await c.query<{ f: string }>(
      `SELECT p.oid::regprocedure::text || ' ' || md5(p.prosrc) AS f FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1`,
    );
    return [...out, ...functions.rows.map((f) => f.f)];
  });
}

/** crm-worker's tables: every table a migration creates. */
function crmWorkerTables(): string[] {
  const names = new Set<string>(['schema_migrations']);
  for (const m of readMigrations()) for (const [, name] of m.sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)/g)) names.add(name!);
  return [...names].sort();
}

async function tablesIn(url: string, schema: string): Promise<string[]> {
  return withClient(url, async (c) =>
    (await c.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [schema])).rows.map((r) => r.t),
  );
}

/** Row counts of every crm-worker table in `schema`. */
async function rowCounts(db: Database, schema: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of crmWorkerTables()) {
    counts[table] = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.${table}`)).rows[0]!.n);
  }
  return counts;
}

/** A few rows in the tables several modules own, written the way today's layout keeps them. */
async function seedRows(db: Database): Promise<void> {
  await db.exec(`
    INSERT INTO tenants (id, name, status) VALUES ('t1', 'Tenant one', 'active');
    INSERT INTO contacts (id, tenant_id, name, email) VALUES ('c1', 't1', 'Ada', 'ada@example.test');
    INSERT INTO leads (id, tenant_id, contact_id) VALUES ('l1', 't1', 'c1');
    INSERT INTO job_runs (job, fire_time, trigger, instance, run_id, outcome, lease_epoch)
      VALUES ('trial-expiration', now() - interval '1 hour', 'schedule', 'old', gen_random_uuid(), 'succeeded', 1);
  `);
  await db.query(
    `INSERT INTO scheduled_messages (tenant_id, channel, recipient, template, scheduled_at, due_at, idempotency_key)
     VALUES ('t1', 'webhook', 'https://example.test/hook', 'hello', now() + interval '1 day', now() + interval '1 day', 'legacy-1')`,
  );
}

const openPg = (url: string, schema?: string) =>
  createPgDatabase({ url, poolMax: 2, queryTimeoutMs: 10_000, applicationName: 'schema test', logger: quietLogger, ...(schema ? { schema } : {}) });

describe('own schema: PostgreSQL', () => {
  let testDb: TestDatabase;
  beforeEach(async () => {
    testDb = await createTestDatabase({ plain: true });
  });
  afterEach(async () => {
    await testDb.drop();
  });

  it('migrates into a database that has the CRM’s own tenants, contacts and leads, leaving them as they were', async () => {
    await withClient(testDb.url, (c) => c.query(CRM_TABLES));
    const before = await publicFingerprint(testDb.url);

    const db = openPg(testDb.url);
    try {
      expect((await migrate(db, quietLogger)).length).toBe(readMigrations().length);
      expect(await migrate(db, quietLogger)).toEqual([]);
    } finally {
      await db.close();
    }

    expect(await publicFingerprint(testDb.url)).toEqual(before);
    expect(await tablesIn(testDb.url, 'crm_worker')).toEqual(crmWorkerTables());
    expect(await tablesIn(testDb.url, 'public')).toEqual(['contacts', 'leads', 'tenants']);
  });

  it('with DATABASE_SCHEMA=public (the layout from before) the same database refuses the migration and keeps its tables as they were', async () => {
    await withClient(testDb.url, (c) => c.query(CRM_TABLES));
    const before = await publicFingerprint(testDb.url);
    const db = openPg(testDb.url, 'public');
    try {
      await expect(migrate(db, quietLogger)).rejects.toThrow(/relation "tenants" already exists/);
    } finally {
      await db.close();
    }
    expect(await publicFingerprint(testDb.url)).toEqual(before);
  });

  it('moves an installation from before (tables in public) into crm_worker without losing a row', async () => {
    const legacy = openPg(testDb.url, 'public');
    let before: Record<string, number>;
    try {
      await migrate(legacy, quietLogger);
      await seedRows(legacy);
      before = await rowCounts(legacy, 'public');
    } finally {
      await legacy.close();
    }
    expect(before.scheduled_messages).toBe(1);

    const db = openPg(testDb.url);
    try {
      expect(await migrate(db, quietLogger)).toEqual([]);
      expect(await rowCounts(db, 'crm_worker')).toEqual(before);
      // The moved function works where it now lives, on the moved table.
      const due = await db.query(`SELECT count(*) AS n FROM scheduled_messages WHERE idempotency_key = 'legacy-1'`);
      expect(Number(due.rows[0]!.n)).toBe(1);
      const fn = await db.query<{ schema: string }>(
        `SELECT n.nspname AS schema FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = 'delivery_pick_due'`,
      );
      expect(fn.rows).toEqual([{ schema: 'crm_worker' }]);
    } finally {
      await db.close();
    }
    expect(await tablesIn(testDb.url, 'public')).toEqual([]);
  });

  it('leaves a CRM’s own schema_migrations table (another tool’s) alone', async () => {
    await withClient(testDb.url, (c) =>
      c.query(`CREATE TABLE public.schema_migrations (version text PRIMARY KEY); INSERT INTO public.schema_migrations VALUES ('20240101')`),
    );
    const before = await publicFingerprint(testDb.url);
    const db = openPg(testDb.url);
    try {
      await migrate(db, quietLogger);
    } finally {
      await db.close();
    }
    expect(await publicFingerprint(testDb.url)).toEqual(before);
    expect(await tablesIn(testDb.url, 'crm_worker')).toEqual(crmWorkerTables());
  });

  it('DATABASE_SCHEMA names another schema; an invalid name is a config error naming the variable', async () => {
    const db = openPg(testDb.url, 'crm_jobs');
    try {
      await migrate(db, quietLogger);
    } finally {
      await db.close();
    }
    expect(await tablesIn(testDb.url, 'crm_jobs')).toEqual(crmWorkerTables());
    expect(await tablesIn(testDb.url, 'crm_worker')).toEqual([]);

    expect(loadConfig({ DATABASE_SCHEMA: 'crm_jobs' }).database.schema).toBe('crm_jobs');
    expect(loadConfig({}).database.schema).toBe('crm_worker');
    for (const bad of ['Crm', 'crm-worker', 'a;drop table x', 'pg_catalog', '']) {
      try {
        loadConfig({ DATABASE_SCHEMA: bad });
        throw new Error(`accepted ${bad}`);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems.map((p) => p.variable)).toEqual(['DATABASE_SCHEMA']);
      }
    }
  });
});

describe('own schema: the worker process on a CRM’s database', () => {
  const fixture = useProcessFixture();

  it('starts, is healthy and stops with its tables in crm_worker while the database’s search_path is public', async () => {
    const plain = await createTestDatabase({ plain: true });
    try {
      await withClient(plain.url, (c) => c.query(CRM_TABLES));
      const before = await publicFingerprint(plain.url);
      const worker = fixture.spawn('schema-worker', { ...fixture.serviceEnv(), DATABASE_URL: plain.url });
      await waitUntilStarted(worker);
      expect((await worker.get('/health')).json().services.database).toBe('connected');
      worker.kill('SIGTERM');
      expect((await worker.waitForExit()).code).toBe(0);
      expect(await publicFingerprint(plain.url)).toEqual(before);
      expect(await tablesIn(plain.url, 'crm_worker')).toEqual(crmWorkerTables());
    } finally {
      await plain.drop();
    }
  });
});

describe('own schema: the embedded database', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = freshPgliteDir('crmw-schema-');
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('keeps its tables in crm_worker, and moves an embedded database from before', async () => {
    const legacy = await createPgliteDatabase(dataDir, { schema: 'public' });
    let before: Record<string, number>;
    try {
      await migrate(legacy, quietLogger);
      await seedRows(legacy);
      before = await rowCounts(legacy, 'public');
    } finally {
      await legacy.close();
    }
    const db = await createPgliteDatabase(dataDir);
    try {
      expect(await migrate(db, quietLogger)).toEqual([]);
      expect(await rowCounts(db, 'crm_worker')).toEqual(before);
      const left = await db.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
      expect(left.rows).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
