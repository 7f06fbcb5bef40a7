import { Client } from 'pg';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { sinkWorkerEnv } from '../support/delivery-harness';
import { ADMIN_DATABASE_URL } from '../support/env';
import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { reserveConnectionsForFile } from '../support/connection-budget';

const API_KEY = 'outbox-db-faults-key-0123456789';
const SECRET = 'outbox-db-faults-secret';
/**
 * The first worker's API pool (DB_POOL_MAX, 10 by default), which the /metrics row counts draw
 * on. Small, so that few counts are more than it holds: a count comes at most every two seconds
 * while the outbox is locked (a second waiting for its statement timeout, then a second of the
 * render cache), and only counts beyond the pool's size show that each gave its connection back.
 * The API calls of these tests are one at a time.
 */
const API_POOL = 3;

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(19);

/**
 * Issue 11, items 6, 8 and 9, against real worker processes on a real PostgreSQL: the outbox
 * table locked under /metrics scrapes, the database turned read-only under /health, a statement
 * blocked past its deadline, and a batch that fails in its last insert slice.
 */
describe('fault injection: a locked, a read-only and a slow outbox', () => {
  const fixture = useProcessFixture();
  let sink: WebhookSink;
  let worker: WorkerProcess;
  let dbName: string;
  const sql = <R extends Record<string, unknown> = Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);
  const admin = (text: string) => withClient(ADMIN_DATABASE_URL, async (c) => void (await c.query(text)));
  const api = async (w: WorkerProcess, method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${w.port()}/api${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, text };
  };
  const message = (key: string, scheduledAt: Date) => ({
    tenantId: 't1',
    channel: 'webhook',
    recipient: 'sink',
    scheduledAt: scheduledAt.toISOString(),
    template: 'hi',
    idempotencyKey: key,
  });
  const dayAhead = () => new Date(Date.now() + 86_400_000);
  /** Worker backends of this test's database waiting for a lock. */
  const waitingBackends = async () =>
    (
      await sql<{ query: string }>(
        `SELECT query FROM pg_stat_activity
          WHERE datname = current_database() AND application_name LIKE 'crm-worker%' AND wait_event_type = 'Lock'`,
      )
    ).map((r) => r.query);
  /** The /metrics row counts of this test's database now waiting for a lock, each by backend and start. */
  const blockedCounts = async () =>
    (
      await sql<{ id: string }>(
        `SELECT pid || '@' || query_start::text AS id FROM pg_stat_activity
          WHERE datname = current_database() AND application_name LIKE 'crm-worker%' AND wait_event_type = 'Lock'
            AND query LIKE '%FROM scheduled_messages GROUP BY status'`,
      )
    ).map((r) => r.id);
  const health = async (w: WorkerProcess) => {
    const r = await w.get('/health');
    return { status: r.status, body: r.json() };
  };
  /** A session holding a lock until release() is called. */
  const holdLock = async (lockSql: string) => {
    const blocker = new Client({ connectionString: fixture.db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(lockSql);
    return async () => {
      await blocker.query('ROLLBACK');
      await blocker.end();
    };
  };

  beforeAll(async () => {
    sink = await startWebhookSink({ secret: SECRET });
    dbName = new URL(fixture.db.url).pathname.slice(1);
    worker = fixture.spawn('outbox-faults', {
      ...sinkWorkerEnv(fixture.serviceEnv('w1:'), sink.url, SECRET),
      API_KEY,
      HEALTH_PROBE_INTERVAL_MS: '250',
      DB_POOL_MAX: String(API_POOL),
    });
    await waitUntilStarted(worker);
    await sql(`INSERT INTO tenants (id, name, status) VALUES ('t1', 'T1', 'active')`);
  });
  afterAll(async () => {
    await admin(`ALTER DATABASE "${dbName}" RESET default_transaction_read_only`).catch(() => undefined);
    await sink?.close();
  });

  afterEach(async () => {
    // The invariants: nothing delivered twice under one key, every row final or still due.
    expect(sink.duplicates).toEqual([]);
    const stuck = await sql(`SELECT idempotency_key, status FROM scheduled_messages
                              WHERE status NOT IN ('sent', 'cancelled', 'failed', 'dead', 'skipped')
                                AND NOT (status = 'scheduled' AND due_at > now())`);
    expect(stuck).toEqual([]);
  });

  it('item 6: /metrics scrapes while the outbox is locked give their connections back; /health stays up', async () => {
    const release = await holdLock('LOCK TABLE scheduled_messages IN ACCESS EXCLUSIVE MODE');
    try {
      // Scrapes until more row counts than the API pool has connections have each been seen
      // blocked on the lock (a backend and start time apiece). Were a count to keep its connection,
      // no more could start once the pool was used up; were it to stay in flight, none at all (one
      // count at a time): either way the wait would fail.
      // Watching for the counts, rather than pacing the scrapes past the render cache, shows that
      // the scrapes really asked the database, and takes no longer than the counts need.
      const counts = new Set<string>();
      const statuses: number[] = [];
      await waitFor(
        `${API_POOL + 2} row counts for /metrics blocked on the locked outbox`,
        async () => {
          statuses.push((await worker.get('/metrics', { accept: 'text/plain' })).status);
          for (const id of await blockedCounts()) counts.add(id);
          return counts.size >= API_POOL + 2;
        },
        { limitMs: 120_000 },
      );
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      const waiting = await waitingBackends();
      // The dispatcher's own claim may wait (up to DB_QUERY_TIMEOUT_MS) and one count at most.
      expect(waiting.filter((q) => q.includes('GROUP BY status')).length).toBeLessThanOrEqual(1);
      expect(waiting.length).toBeLessThanOrEqual(3);
      const during = await health(worker);
      expect(during).toMatchObject({ status: 200, body: { services: { database: 'connected' } } });
    } finally {
      await release();
    }
    // After the unlock everything works: a message due now is delivered, counted on /metrics.
    const created = await api(worker, 'POST', '/followups', message('locked:after', new Date()));
    expect(created.status).toBe(201);
    await waitFor('the message after the unlock delivered', () => sink.deliveries.some((d) => d.key === 'locked:after'));
    await waitFor('/metrics counting the sent row', async () =>
      /crm_worker_delivery_messages\{status="sent"\} [1-9]/.test((await worker.get('/metrics', { accept: 'text/plain' })).body),
    );
    expect(await waitingBackends()).toEqual([]);
    expect((await health(worker)).status).toBe(200);
  });

  it('item 9: /health reports a database that cannot take writes, and recovers when it can again', async () => {
    await admin(`ALTER DATABASE "${dbName}" SET default_transaction_read_only = on`);
    try {
      // The fault is real: a new session cannot write.
      await expect(sql(`INSERT INTO tenants (id, name) VALUES ('ro', 'RO')`)).rejects.toThrow(/read-only transaction/);
      const reported = await waitFor('/health reporting the read-only database', async () => {
        const h = await health(worker);
        return h.status === 503 && h.body.services.database === 'read-only' ? h : undefined;
      });
      // Anonymous callers see the state; the reason is shown with the API key.
      expect(reported.body.problems).toEqual(['database: read-only']);
      const detailed = (await worker.get('/health', { 'x-api-key': API_KEY })).json();
      expect(detailed.problems).toEqual([expect.stringMatching(/^database: cannot take writes: transactions are read-only/)]);
      expect((await worker.get('/health/ready')).status).toBe(503);
    } finally {
      await admin(`ALTER DATABASE "${dbName}" RESET default_transaction_read_only`);
    }
    await waitFor('/health up again', async () => (await health(worker)).status === 200);
    expect((await health(worker)).body.services.database).toBe('connected');
  });

  it('item 8: a batch larger than one insert slice is one transaction: a failure in its last message commits nothing', async () => {
    // A row the database refuses at insert time (after validation passed), in the second slice.
    await sql(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.idempotency_key = 'batch:poison' THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$`);
    await sql(`CREATE TRIGGER refuse_poison BEFORE INSERT ON scheduled_messages FOR EACH ROW EXECUTE FUNCTION refuse_poison()`);
    const at = dayAhead();
    const keys = Array.from({ length: 3_999 }, (_, i) => `batch:${i}`);
    try {
      const refused = await api(worker, 'POST', '/followups', { messages: [...keys, 'batch:poison'].map((k) => message(k, at)) });
      expect(refused.status).toBeGreaterThanOrEqual(500);
      expect(await sql(`SELECT count(*)::int AS n FROM scheduled_messages WHERE idempotency_key LIKE 'batch:%'`)).toEqual([{ n: 0 }]);
    } finally {
      await sql(`DROP TRIGGER refuse_poison ON scheduled_messages`);
    }
    // A key already stored with another payload, last of 4,000: 409 and nothing of the batch kept.
    const stored = await api(worker, 'POST', '/followups', message('batch:taken', at));
    expect(stored.status).toBe(201);
    const conflicting = { ...message('batch:taken', at), template: 'another payload' };
    const conflict = await api(worker, 'POST', '/followups', { messages: [...keys.map((k) => message(k, at)), conflicting] });
    expect(conflict.status).toBe(409);
    expect(await sql(`SELECT count(*)::int AS n FROM scheduled_messages WHERE idempotency_key LIKE 'batch:%'`)).toEqual([{ n: 1 }]);
    // And the same batch without the bad message: all 4,000 stored.
    const accepted = await api(worker, 'POST', '/followups', { messages: [...keys, 'batch:last'].map((k) => message(k, at)) });
    expect(accepted.status).toBe(201);
    expect(JSON.parse(accepted.text)).toMatchObject({ scheduled: 4_000, duplicates: 0 });
  });

  describe('with a short statement deadline', () => {
    let fast: WorkerProcess;
    beforeAll(async () => {
      fast = fixture.spawn('outbox-faults-deadline', {
        ...sinkWorkerEnv(fixture.serviceEnv('w2:'), sink.url, SECRET),
        API_KEY,
        DB_QUERY_TIMEOUT_MS: '1000',
      });
      await waitUntilStarted(fast);
    });
    afterAll(() => fast.kill('SIGKILL'));

    /** Whatever a blocked statement does once its lock is gone, it has done when none is running. */
    const settled = () => waitFor('no worker statement still waiting', async () => (await waitingBackends()).length === 0);

    it('item 8: a statement blocked past the deadline is an error to the caller and is not written after the lock goes', async () => {
      expect((await api(fast, 'POST', '/followups', message('deadline:row', dayAhead()))).status).toBe(201);

      const releaseRow = await holdLock(`SELECT * FROM scheduled_messages WHERE idempotency_key = 'deadline:row' FOR UPDATE`);
      let cancel: { status: number };
      try {
        cancel = await api(fast, 'POST', '/followups/cancel', { idempotencyKeys: ['deadline:row'], tenantId: 't1' });
      } finally {
        await releaseRow();
      }
      expect(cancel.status).toBeGreaterThanOrEqual(500);
      await settled();
      expect(await sql(`SELECT status FROM scheduled_messages WHERE idempotency_key = 'deadline:row'`)).toEqual([{ status: 'scheduled' }]);

      const releaseTable = await holdLock('LOCK TABLE scheduled_messages IN ACCESS EXCLUSIVE MODE');
      let created: { status: number };
      try {
        created = await api(fast, 'POST', '/followups', message('deadline:new', dayAhead()));
      } finally {
        await releaseTable();
      }
      expect(created.status).toBeGreaterThanOrEqual(500);
      await settled();
      expect(await sql(`SELECT status FROM scheduled_messages WHERE idempotency_key = 'deadline:new'`)).toEqual([]);
    });
  });
});
