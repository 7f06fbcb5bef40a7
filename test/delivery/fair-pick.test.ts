import type { Database } from '../../src/db/database';
import { claimDueMessages } from '../../src/delivery/outbox/claim';
import { openScratchDatabase, type ScratchDatabase } from '../support/harness';

/**
 * The claim's pick (delivery_pick_due, migration 0051) on both databases the worker runs on:
 * due transactional rows before follow-ups before marketing, each class shared round-robin
 * across the tenants with due rows, due order inside a tenant and class, paused channels and
 * rows not yet due left alone. Rows are written straight into the outbox with due times in the
 * past (relative to the database's now()), so nothing here depends on the clock or on speed.
 */
describe.each(['postgres', 'pglite'] as const)('fair pick on %s', (kind) => {
  let scratch: ScratchDatabase;
  let db: Database;
  let seq = 0;

  beforeAll(async () => {
    scratch = await openScratchDatabase(kind);
    db = scratch.db;
    await db.query(`INSERT INTO tenants (id, name) SELECT id, id FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) AS id`);
  });
  afterAll(async () => {
    await scratch.close();
  });
  beforeEach(async () => {
    await db.query(`DELETE FROM scheduled_messages`);
  });

  /** `count` rows of a tenant and class, the first due `agoMs` ago, the next ones `stepMs` (1) apart. */
  const due = async (tenant: string, cls: string, count: number, agoMs: number, extra: { channel?: string; dueInMs?: number; stepMs?: number } = {}) => {
    const prefix = `${tenant}-${cls}-${++seq}-`;
    await db.query(
      `INSERT INTO scheduled_messages (tenant_id, channel, recipient, scheduled_at, due_at, template, class, idempotency_key)
       SELECT $1, $4, 'ops', now(), now() - $3 * interval '1 millisecond' + (g - 1) * $7 * interval '1 millisecond', 'x', $2, $5 || g
         FROM generate_series(1, $6::integer) AS g`,
      [tenant, cls, extra.dueInMs !== undefined ? -extra.dueInMs : agoMs, extra.channel ?? 'log', prefix, count, extra.stepMs ?? 1],
    );
    return prefix;
  };
  const claim = (limit: number, excludeChannels: string[] = []) =>
    claimDueMessages(db, { token: `t${++seq}`, limit, leaseMs: 60_000, excludeChannels, staleAfterSeconds: 86_400 });

  it('serves transactional, then follow-up, then marketing rows, whatever their due times', async () => {
    await due('a', 'marketing', 50, 120_000);
    await due('a', 'followup', 3, 60_000);
    await due('b', 'transactional', 2, 1_000);
    const claimed = await claim(10);
    expect(claimed.map((r) => r.class)).toEqual(['transactional', 'transactional', 'followup', 'followup', 'followup', ...Array(5).fill('marketing')]);
  });

  it("shares a class round-robin across tenants: one tenant's large backlog takes no more than its share", async () => {
    await due('a', 'marketing', 1_000, 120_000);
    await due('b', 'marketing', 30, 10_000);
    await due('c', 'marketing', 30, 5_000);
    const first = await claim(30);
    const tenants = first.map((r) => r.tenant_id);
    // The longest-waiting tenant first, then one row of each tenant in turn.
    expect(tenants).toEqual(Array.from({ length: 30 }, (_, i) => ['a', 'b', 'c'][i % 3]));
    // A tenant with fewer due rows than its share drops out; the others share what is left.
    const next = await claim(60);
    const counts = (rows: typeof next) => Object.fromEntries(['a', 'b', 'c'].map((t) => [t, rows.filter((r) => r.tenant_id === t).length]));
    expect(counts(next)).toEqual({ a: 20, b: 20, c: 20 });
    const last = await claim(60);
    expect(counts(last)).toEqual({ a: 60, b: 0, c: 0 });
  });

  it('keeps due order inside a tenant and class, across claims', async () => {
    const a = await due('a', 'marketing', 40, 60_000);
    await due('b', 'marketing', 40, 30_000);
    const keys: string[] = [];
    for (let i = 0; i < 4; i++) keys.push(...(await claim(20)).filter((r) => r.tenant_id === 'a').map((r) => r.idempotency_key));
    expect(keys).toEqual(Array.from({ length: 40 }, (_, i) => `${a}${i + 1}`));
  });

  it('with more tenants than room, the tenants waiting longest go first, one row each', async () => {
    // Two rows each, 5 s apart: a's second row is younger than d's and e's first.
    for (const [tenant, agoMs] of [
      ['a', 10_000],
      ['b', 9_000],
      ['c', 8_000],
      ['d', 7_000],
      ['e', 6_000],
    ] as const) {
      await due(tenant, 'followup', 2, agoMs, { stepMs: 5_000 });
    }
    expect((await claim(3)).map((r) => r.tenant_id)).toEqual(['a', 'b', 'c']);
    expect((await claim(3)).map((r) => r.tenant_id)).toEqual(['d', 'e', 'a']);
  });

  it('leaves rows not yet due and rows of paused channels alone, and a higher class does not hide a lower one when it is paused', async () => {
    await due('a', 'transactional', 5, 0, { dueInMs: 3_600_000 });
    await due('a', 'transactional', 5, 1_000, { channel: 'sms' });
    await due('b', 'marketing', 3, 1_000);
    const claimed = await claim(10, ['sms']);
    expect(claimed.map((r) => [r.tenant_id, r.class, r.channel])).toEqual(Array(3).fill(['b', 'marketing', 'log']));
    expect(await claim(10, ['sms'])).toEqual([]);
    expect((await claim(10)).map((r) => r.channel)).toEqual(Array(5).fill('sms'));
  });
});

describe('fair pick on postgres: several claimers at once', () => {
  let scratch: ScratchDatabase;

  beforeAll(async () => {
    scratch = await openScratchDatabase('postgres');
    await scratch.db.query(`INSERT INTO tenants (id, name) VALUES ('a', 'a'), ('b', 'b')`);
  });
  afterAll(async () => {
    await scratch.close();
  });

  it("two claims in concurrent transactions skip each other's rows (SKIP LOCKED) and each stays fair", async () => {
    const { db } = scratch;
    await db.query(
      `INSERT INTO scheduled_messages (tenant_id, channel, recipient, scheduled_at, due_at, template, class, idempotency_key)
       SELECT CASE WHEN g % 10 = 0 THEN 'b' ELSE 'a' END, 'log', 'ops', now(), now() - interval '1 minute' + g * interval '1 millisecond',
              'x', 'marketing', 'k' || g
         FROM generate_series(1, 400) AS g`,
    );
    let releaseFirst: () => void = () => undefined;
    const firstHolds = new Promise<void>((r) => (releaseFirst = r));
    let firstIds: string[] = [];
    const first = db.transaction(async (tx) => {
      firstIds = (await claimDueMessages(tx, { token: 'one', limit: 20, leaseMs: 60_000, excludeChannels: [], staleAfterSeconds: 86_400 })).map((r) => r.id);
      await firstHolds;
    });
    while (firstIds.length === 0) await new Promise((r) => setTimeout(r, 10));
    const second = await claimDueMessages(db, { token: 'two', limit: 20, leaseMs: 60_000, excludeChannels: [], staleAfterSeconds: 86_400 });
    releaseFirst();
    await first;
    expect(second).toHaveLength(20);
    expect(second.filter((r) => firstIds.includes(r.id))).toEqual([]);
    expect(second.filter((r) => r.tenant_id === 'b')).toHaveLength(10);
  });
});
