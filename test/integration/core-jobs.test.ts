import type { Database } from '../../src/db/database';
import { createCallCleanupJob } from '../../src/calls/call-cleanup-job';
import { createTrialExpirationJob } from '../../src/jobs/trial-expiration';
import { runTick, type TickDeps } from '../../src/scheduler/run-tick';
import { openScratchDatabase, inProcessTickDeps, type ScratchDatabase } from '../support/harness';

// The same migrations and SQL serve PostgreSQL and the embedded PGlite: both run these tests.
describe.each(['postgres', 'pglite'] as const)('trial-expiration and call-cleanup on %s', (kind) => {
  let db: Database;
  let scratch: ScratchDatabase;
  let deps: TickDeps;
  let tick = 0;
  const nextFireTime = () => new Date(Date.UTC(2026, 0, 1, 0, 0, tick++));

  beforeAll(async () => {
    scratch = await openScratchDatabase(kind);
    db = scratch.db;
    deps = inProcessTickDeps(db);
  });
  afterAll(async () => {
    await scratch.close();
  });

  it('trial-expiration suspends tenants whose trial ended, once, and leaves the rest alone', async () => {
    await db.query(`INSERT INTO tenants (id, name, status, trial_ends_at) VALUES
      ('t-ended', 'Ended', 'trial', now() - interval '1 hour'),
      ('t-ended-2', 'Ended too', 'trial', now() - interval '3 days'),
      ('t-running', 'Still in trial', 'trial', now() + interval '2 days'),
      ('t-paying', 'Paying', 'active', now() - interval '10 days')`);
    const job = createTrialExpirationJob({ schedule: '0 0 * * * *' });

    const first = await runTick(deps, job, nextFireTime());
    expect(first).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 2 }));
    const tenants = await db.query<{ id: string; status: string; suspension_reason: string | null }>(
      'SELECT id, status, suspension_reason FROM tenants ORDER BY id',
    );
    expect(tenants.rows).toEqual([
      { id: 't-ended', status: 'suspended', suspension_reason: 'trial expired' },
      { id: 't-ended-2', status: 'suspended', suspension_reason: 'trial expired' },
      { id: 't-paying', status: 'active', suspension_reason: null },
      { id: 't-running', status: 'trial', suspension_reason: null },
    ]);

    // Idempotent: running again changes nothing and reports nothing processed.
    const suspendedAt = await db.query('SELECT id, suspended_at FROM tenants WHERE status = $1 ORDER BY id', ['suspended']);
    const second = await runTick(deps, job, nextFireTime());
    expect(second).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 0 }));
    expect((await db.query('SELECT id, suspended_at FROM tenants WHERE status = $1 ORDER BY id', ['suspended'])).rows).toEqual(suspendedAt.rows);
  });

  it('call-cleanup removes finished calls past retention in batches and keeps recent or unfinished ones', async () => {
    await db.query(`INSERT INTO tenants (id, name, status) VALUES ('t-calls', 'Calls', 'active') ON CONFLICT DO NOTHING`);
    // 25 old finished calls (more than two batches of 10), 3 recent finished, 2 old still queued or live.
    await db.query(`INSERT INTO calls (tenant_id, status, created_at)
      SELECT 't-calls', (ARRAY['completed','no-answer','busy','failed','cancelled'])[1 + g % 5], now() - interval '120 days'
      FROM generate_series(1, 25) AS g`);
    await db.query(`INSERT INTO calls (tenant_id, status, created_at)
      SELECT 't-calls', 'completed', now() - interval '5 days' FROM generate_series(1, 3)`);
    await db.query(`INSERT INTO calls (tenant_id, status, created_at) VALUES
      ('t-calls', 'queued', now() - interval '200 days'), ('t-calls', 'in-progress', now() - interval '200 days')`);
    const job = createCallCleanupJob({ schedule: '0 30 3 * * *', retentionDays: 90, batchSize: 10 });

    const result = await runTick(deps, job, nextFireTime());
    expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 25 }));
    const left = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM calls GROUP BY status ORDER BY status');
    expect(left.rows).toEqual([
      { status: 'completed', n: 3 },
      { status: 'in-progress', n: 1 },
      { status: 'queued', n: 1 },
    ]);
    const again = await runTick(deps, job, nextFireTime());
    expect(again).toEqual(expect.objectContaining({ ran: true, items: 0 }));
  });

  it('records each run in the job history with its outcome and items', async () => {
    const history = await db.query<{ job: string; outcome: string; items: number; finished: boolean }>(
      `SELECT job, outcome, items, finished_at IS NOT NULL AS finished FROM job_runs ORDER BY fire_time`,
    );
    expect(history.rows).toEqual([
      { job: 'trial-expiration', outcome: 'succeeded', items: 2, finished: true },
      { job: 'trial-expiration', outcome: 'succeeded', items: 0, finished: true },
      { job: 'call-cleanup', outcome: 'succeeded', items: 25, finished: true },
      { job: 'call-cleanup', outcome: 'succeeded', items: 0, finished: true },
    ]);
  });
});
