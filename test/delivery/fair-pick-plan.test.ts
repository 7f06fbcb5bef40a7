import { Client } from 'pg';
import type { Queryable } from '../../src/db/database';
import { claimDueMessages } from '../../src/delivery/outbox/claim';
import { openScratchDatabase, type ScratchDatabase } from '../support/harness';

/**
 * The fair pick stays an index walk (issue 14, item 5): with 50,000 due rows, one tenant's
 * backlog among them, EXPLAIN ANALYZE of every statement the claim runs (the function's own
 * statements too, through auto_explain's nested plans sent to this client) shows no Seq Scan,
 * no Bitmap scan and no Sort over the table: the only Sort is the function's last one, over the
 * rows it picked. Real PostgreSQL (PGlite has no auto_explain; test/delivery/fair-pick.test.ts
 * runs the pick itself there).
 */
describe('fair pick plan on postgres, 50,000 due rows', () => {
  let scratch: ScratchDatabase;
  let client: Client;
  const plans: string[] = [];

  beforeAll(async () => {
    scratch = await openScratchDatabase('postgres');
    await scratch.db.query(`INSERT INTO tenants (id, name) SELECT 'tenant-' || g, 'x' FROM generate_series(1, 20) AS g`);
    // 45,000 marketing rows of one tenant, 5,000 spread over the others and the three classes;
    // statistics as right after a backlog arrived (no ANALYZE since).
    await scratch.db.query(
      `INSERT INTO scheduled_messages (tenant_id, channel, recipient, scheduled_at, due_at, template, class, idempotency_key)
       SELECT CASE WHEN g <= 45000 THEN 'tenant-1' ELSE 'tenant-' || (2 + g % 19) END, 'log', 'ops', now(),
              now() - interval '1 hour' + g * interval '1 millisecond', 'x',
              CASE WHEN g <= 45000 THEN 'marketing' ELSE (ARRAY['transactional', 'followup', 'marketing'])[1 + g % 3] END, 'k' || g
         FROM generate_series(1, 50000) AS g`,
    );
    client = new Client({ connectionString: scratch.url });
    await client.connect();
    await client.query(`SET search_path = crm_worker`);
    client.on('notice', (n) => {
      if (n.message?.includes('plan:')) plans.push(n.message);
    });
    await client.query(`LOAD 'auto_explain'`);
    await client.query(`SET auto_explain.log_min_duration = 0`);
    await client.query(`SET auto_explain.log_nested_statements = on`);
    await client.query(`SET auto_explain.log_analyze = on`);
    await client.query(`SET client_min_messages = log`);
  });
  afterAll(async () => {
    await client?.end();
    await scratch.close();
  });

  it('every statement of the claim is an index walk, and a claim touches a bounded number of rows', async () => {
    // The claim statement itself (its send-time checks and the pick), rolled back.
    const queryable = { query: (sql: string, params?: unknown[]) => client.query(sql, params) } as unknown as Queryable;
    await client.query('BEGIN');
    const claimed = await claimDueMessages(queryable, { token: 'plan', limit: 100, leaseMs: 60_000, excludeChannels: ['sms'], staleAfterSeconds: 86_400 });
    await client.query('ROLLBACK');
    expect(claimed).toHaveLength(100);
    expect(plans.some((p) => p.includes('delivery_pick_due'))).toBe(true);

    const nested = plans.filter((p) => p.includes('scheduled_messages'));
    expect(plans.join('\n')).toMatch(/Sort Key: c, r, k, t/);
    // The tenants walk of each class and at least one take.
    expect(nested.length).toBeGreaterThanOrEqual(4);
    for (const plan of plans) {
      // (Small tables of the send-time checks may be scanned; the outbox never is.)
      expect(plan).not.toMatch(/Seq Scan on scheduled_messages/);
      // The claim looks the picked ids up by primary key (a bitmap of those ids only).
      for (const [, index] of plan.matchAll(/Bitmap Index Scan on (\S+)/g)) expect(index).toBe('scheduled_messages_pkey');
      // Every sort is over the picked rows at most (the pick's answer, the claim's order).
      for (const [, rows] of plan.matchAll(/Sort {2}\(cost=\S+ rows=\d+ width=\d+\) \(actual time=\S+ rows=(\d+)/g)) {
        expect(Number(rows)).toBeLessThanOrEqual(100);
      }
    }
    // The function's own statements: index walks of the class index, none over the whole backlog.
    for (const plan of nested.filter((p) => !p.includes('delivery_pick_due'))) expect(plan).not.toMatch(/Bitmap/);
    // No scan returned more rows than the pick's room (the take of one round), whatever the backlog.
    for (const plan of nested.filter((p) => !p.includes('delivery_pick_due'))) {
      for (const [, rows] of plan.matchAll(/Index (?:Only )?Scan using \S+ on scheduled_messages \S+ .*?\(actual time=\S+ rows=(\d+)/g)) {
        expect(Number(rows)).toBeLessThanOrEqual(100);
      }
      // ... nor read and dropped more than that on the way.
      for (const [, removed] of plan.matchAll(/Rows Removed by Filter: (\d+)/g)) expect(Number(removed)).toBeLessThanOrEqual(100);
      expect(plan).toMatch(/scheduled_messages_class_due/);
    }
  });

  it('the send-time checks run once per picked row, not once per use of their verdict', async () => {
    plans.length = 0;
    const queryable = { query: (sql: string, params?: unknown[]) => client.query(sql, params) } as unknown as Queryable;
    await client.query('BEGIN');
    const claimed = await claimDueMessages(queryable, { token: 'checks', limit: 100, leaseMs: 60_000, excludeChannels: [], staleAfterSeconds: 86_400 });
    await client.query('ROLLBACK');
    expect(claimed).toHaveLength(100);
    const claim = plans.filter((p) => p.includes('Update on scheduled_messages') && p.includes('suppressions'));
    expect(claim).toHaveLength(1);
    // The first check that probes a table for every row: is the recipient suppressed? (The
    // WhatsApp prefix probe never runs: these rows go to the log channel.) Each executed scan of
    // suppressions says how many times it ran; together once per claimed row.
    const loops = [...claim[0]!.matchAll(/Scan (?:using \S+ )?on suppressions \S+ {2}\(cost=[^)]*\) \(actual time=\S+ rows=\d+ loops=(\d+)\)/g)].map(([, n]) =>
      Number(n),
    );
    expect(loops.length).toBeGreaterThan(0);
    expect(loops.reduce((a, b) => a + b, 0)).toBe(claimed.length);
  });
});
