import { ConfigError, loadConfig } from '../../src/config/config';
import type { Database } from '../../src/db/database';
import { migrate, readMigrations } from '../../src/db/migrate';
import { createTemplateEngine, DEFAULT_TEMPLATE_LIMITS, TemplateRenderError } from '../../src/templates/template-engine';
import { deliveryConfig, openDeliveryDatabase, startDispatcher, statusOf, type InProcessDispatcher } from '../support/delivery-harness';
import { createPgDatabase } from '../../src/db/pg-database';
import { quietLogger } from '../support/harness';
import { createTestDatabase } from '../support/services';
import { waitFor } from '../support/wait';

const problemOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof TemplateRenderError) return err.problem;
    throw err;
  }
  return undefined;
};

describe('the template sandbox', () => {
  it('takes its limits from TEMPLATE_* (defaults documented) and refuses out-of-range values at startup', () => {
    expect(loadConfig({}).delivery.templateLimits).toEqual(DEFAULT_TEMPLATE_LIMITS);
    expect(loadConfig({ TEMPLATE_MEMORY_LIMIT: '50000', TEMPLATE_RENDER_LIMIT_MS: '500', TEMPLATE_PARSE_LIMIT: '2000' }).delivery.templateLimits).toEqual({
      memoryLimit: 50_000,
      renderLimitMs: 500,
      parseLimit: 2_000,
    });
    expect(() => loadConfig({ TEMPLATE_RENDER_LIMIT_MS: '60000' })).toThrow(ConfigError);
    expect(() => loadConfig({ TEMPLATE_MEMORY_LIMIT: 'lots' })).toThrow(/TEMPLATE_MEMORY_LIMIT/);
  });

  it('applies the configured memory and parse limits, naming the setting', () => {
    const small = createTemplateEngine(loadConfig({ TEMPLATE_MEMORY_LIMIT: '10000', TEMPLATE_PARSE_LIMIT: '1000' }).delivery.templateLimits);
    // The range is charged in full (20000) before the loop runs once: cheap in time, over 10000 in memory.
    const loop = '{% for i in (1..20000) limit: 1 %}{% endfor %}done';
    expect(createTemplateEngine().render(loop, {})).toBe('done');
    expect(problemOf(() => small.render(loop, {}))).toEqual({
      field: 'template',
      reason: 'limit',
      message: expect.stringContaining('TEMPLATE_MEMORY_LIMIT=10000'),
    });
    expect(problemOf(() => small.render('x'.repeat(1001), {}))).toMatchObject({
      field: 'template',
      reason: 'limit',
      message: expect.stringContaining('TEMPLATE_PARSE_LIMIT=1000'),
    });
  });

  it('keeps what templates could always do: variables, filters, loops over given lists, missing variables named', () => {
    const engine = createTemplateEngine();
    expect(engine.render('Hi {{ c.name | upcase }}{% for i in items %}-{{ i }}{% endfor %}', { c: { name: 'ada' }, items: [1, 2] })).toBe('Hi ADA-1-2');
    expect(problemOf(() => engine.render('Hi {{ who }}', {}))).toMatchObject({ field: 'variables.who', reason: 'missing-variable' });
    expect(problemOf(() => engine.render("{% include 'package.json' %}", {}))).toMatchObject({ field: 'template', reason: 'forbidden-tag' });
  });
});

// A subject that cannot render used to escape the dispatcher's template check and be retried as a
// transient error; it is a permanent failure of that one message, like the body.
describe.each(['postgres', 'pglite'] as const)('send-time template failures on %s', (kind) => {
  let db: Database;
  let closeDb: () => Promise<void>;
  let running: InProcessDispatcher;

  beforeAll(async () => {
    ({ db, close: closeDb } = await openDeliveryDatabase(kind));
    running = startDispatcher(db, deliveryConfig({ DELIVERY_MAX_ATTEMPTS: '5' }));
  });
  afterAll(async () => {
    await running.stop();
    await closeDb();
  });

  it('a hostile subject fails its message permanently after one attempt, counted', async () => {
    await db.query(
      `INSERT INTO scheduled_messages (tenant_id, channel, recipient, scheduled_at, due_at, template, subject, idempotency_key)
       VALUES ('t1', 'log', 'ops', now(), now(), 'body', $1, 'subject:hostile')`,
      ['{% for a in (1..1000000000) %}x{% endfor %}'],
    );
    running.dispatcher.wakeUp();
    const row = await waitFor('the hostile subject row final', async () => {
      const found = await statusOf(db, 'subject:hostile');
      return found && found.status !== 'scheduled' && found.status !== 'claimed' && found.status !== 'sending' ? found : undefined;
    });
    expect(row).toMatchObject({ status: 'failed', attempts: 1 });
    expect(row.last_error).toMatch(/template not rendered: .*TEMPLATE_MEMORY_LIMIT/);
    expect((await running.metrics.templateFailures.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'limit' }, value: 1 })]);
  });
});

describe('migration 0006 on a database migrated before it', () => {
  it("widens the campaigns status check so that 'failed' can be stored", async () => {
    const testDb = await createTestDatabase();
    const db = createPgDatabase({ url: testDb.url, poolMax: 2, queryTimeoutMs: 10_000, applicationName: 'crm-worker test', logger: quietLogger });
    const scratch = { db };
    try {
      // The schema as it was: every migration but 0006, with 0030's old check.
      const old = readMigrations().filter((m) => m.id !== 6);
      await scratch.db.exec(`CREATE SCHEMA ${db.schema}`);
      await scratch.db.exec(`CREATE TABLE schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      for (const m of old) {
        const sql = m.id === 30 ? m.sql.replace(/'sent', 'failed',/, "'sent',") : m.sql;
        await scratch.db.exec(sql);
        await scratch.db.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
      }
      await scratch.db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'T1')`);
      await scratch.db.query(`INSERT INTO contact_lists (id, tenant_id, name) VALUES ('l', 't1', 'L')`);
      const insert = () =>
        scratch.db.query(
          `INSERT INTO campaigns (tenant_id, name, channel, template, send_at, list_id, status) VALUES ('t1', 'c', 'email', 'x', now(), 'l', 'failed')`,
        );
      await expect(insert()).rejects.toThrow(/campaigns_status_check/);
      expect(await migrate(scratch.db, quietLogger)).toEqual([6]);
      await expect(insert()).resolves.toBeDefined();
    } finally {
      await db.close();
      await testDb.drop();
    }
  });
});
