import { createCallSchedulerJob } from '../../src/calls/call-scheduler-job';
import { createTelephonyWebhook } from '../../src/calls/telephony-webhook';
import type { Database } from '../../src/db/database';
import { runTick, type TickDeps } from '../../src/scheduler/run-tick';
import { openScratchDatabase, inProcessTickDeps, type ScratchDatabase } from '../support/harness';
import { startTelephonySink } from '../fakes/telephony-sink';

// Called directly (runTick) on the database clock, as production runs it; PostgreSQL and PGlite.
describe.each(['postgres', 'pglite'] as const)('call-scheduler job on %s', (kind) => {
  let db: Database;
  let scratch: ScratchDatabase;
  let deps: TickDeps;
  let sink: Awaited<ReturnType<typeof startTelephonySink>>;
  let tick = 0;
  const fireTime = () => new Date(Date.UTC(2026, 0, 1, 0, 0, tick++));
  const jobWith = (url: string, outcomeTimeoutSeconds = 3600) =>
    createCallSchedulerJob({
      schedule: '*/30 * * * * *',
      webhook: createTelephonyWebhook({ url, token: undefined, timeoutMs: 2_000 }),
      batchSize: 10,
      retrySpacingSeconds: 600,
      outcomeTimeoutSeconds,
    });
  const queue = async (tenant: string, maxAttempts = 3) =>
    (
      await db.query<{ id: string }>(
        `INSERT INTO calls (tenant_id, to_number, status, next_attempt_at, max_attempts)
         VALUES ($1, '+15550100200', 'queued', now() - interval '1 minute', $2) RETURNING id::text AS id`,
        [tenant, maxAttempts],
      )
    ).rows[0]!.id;
  const row = async (id: string) =>
    (
      await db.query<{ status: string; attempts: number; last_error: string | null; spacing_s: number | null; ended: boolean }>(
        `SELECT status, attempts, last_error, extract(epoch FROM next_attempt_at - now())::float8 AS spacing_s,
                ended_at IS NOT NULL AS ended FROM calls WHERE id = $1`,
        [id],
      )
    ).rows[0]!;

  /** Due again in `seconds` from the tick (the test reads a moment later, hence the margin). */
  const dueIn = (seconds: number) => ({
    asymmetricMatch: (v: unknown) => typeof v === 'number' && v > seconds - 10 && v <= seconds + 0.001,
    toAsymmetricMatcher: () => `due in ${seconds - 10}..${seconds} s`,
  });

  beforeAll(async () => {
    scratch = await openScratchDatabase(kind);
    db = scratch.db;
    sink = await startTelephonySink();
    deps = inProcessTickDeps(db);
    await db.query(`INSERT INTO tenants (id, name, status, timezone) VALUES
      ('open', 'Always open', 'active', 'Asia/Kolkata'), ('shut', 'No hours', 'active', 'UTC'),
      ('gone', 'Suspended', 'suspended', 'UTC')`);
    await db.query(`INSERT INTO call_business_hours (tenant_id, weekday, opens, closes)
      SELECT t, d, '00:00', '24:00' FROM unnest(ARRAY['open', 'gone']) AS t, generate_series(1, 7) AS d`);
  });
  afterAll(async () => {
    await sink.close();
    await scratch.close();
  });

  it('places due calls of open tenants, once, and leaves suspended tenants and tenants without hours waiting', async () => {
    const open = await queue('open');
    const shut = await queue('shut');
    const gone = await queue('gone');
    const result = await runTick(deps, jobWith(sink.url), fireTime());
    expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 1 }));
    expect(sink.requests.map((r) => [r.body.callId, r.body.attempt, r.body.timezone])).toEqual([[open, 1, 'Asia/Kolkata']]);
    expect(await row(open)).toEqual(expect.objectContaining({ status: 'dialing', attempts: 1 }));
    // No hours at all: re-checked in a day, with the reason stored.
    expect(await row(shut)).toEqual(expect.objectContaining({ status: 'queued', attempts: 0, spacing_s: dueIn(86_400) }));
    expect((await row(shut)).last_error).toMatch(/no open calling hours/);
    expect(await row(gone)).toEqual(expect.objectContaining({ status: 'queued', attempts: 0 }));

    const again = await runTick(deps, jobWith(sink.url), fireTime());
    expect(again).toEqual(expect.objectContaining({ ran: true, items: 0 }));
    expect(sink.requests).toHaveLength(1);
    await db.query(`UPDATE calls SET status = 'cancelled' WHERE id = ANY($1::bigint[])`, [[open, shut, gone]]);
  });

  it('retries after a 5xx or an unreachable webhook, and fails at once on a 4xx', async () => {
    const retried = await queue('open');
    sink.answerWith(() => ({ status: 503, body: { error: 'try later' } }));
    await runTick(deps, jobWith(sink.url), fireTime());
    expect(await row(retried)).toEqual(expect.objectContaining({ status: 'queued', attempts: 1, spacing_s: dueIn(600), ended: false }));
    expect((await row(retried)).last_error).toMatch(/answered 503/);

    const refused = await queue('open');
    sink.answerWith(() => ({ status: 422, body: { error: 'bad number' } }));
    await runTick(deps, jobWith(sink.url), fireTime());
    expect(await row(refused)).toEqual(expect.objectContaining({ status: 'failed', attempts: 1, ended: true, spacing_s: null }));

    const unreachable = await queue('open', 1);
    await runTick(deps, jobWith('http://127.0.0.1:9/nothing-listens-here'), fireTime());
    // Its only attempt is used up: final, with the reason.
    expect(await row(unreachable)).toEqual(expect.objectContaining({ status: 'failed', attempts: 1, ended: true }));
    expect((await row(unreachable)).last_error).toMatch(/unreachable/);
    sink.answerWith((req) => ({ status: 200, body: { id: `prov-${req.body.callId}` } }));
    await db.query(`UPDATE calls SET status = 'cancelled' WHERE id = $1`, [retried]);
  });

  it("uses the tenant's own retry spacing over the default", async () => {
    await db.query(`INSERT INTO call_settings (tenant_id, retry_spacing_seconds) VALUES ('open', 120)`);
    const call = await queue('open');
    sink.answerWith(() => ({ status: 500 }));
    await runTick(deps, jobWith(sink.url), fireTime());
    expect(await row(call)).toEqual(expect.objectContaining({ status: 'queued', attempts: 1, spacing_s: dueIn(120) }));
    sink.answerWith((req) => ({ status: 200, body: { id: `prov-${req.body.callId}` } }));
    await db.query(`DELETE FROM call_settings WHERE tenant_id = 'open'`);
    await db.query(`UPDATE calls SET status = 'cancelled' WHERE id = $1`, [call]);
  });

  it("shows each attempt under its own provider call id, never the last attempt's", async () => {
    const providerId = async (id: string) => (await db.query<{ p: string | null }>('SELECT provider_call_id AS p FROM calls WHERE id = $1', [id])).rows[0]!.p;
    const call = await queue('open', 3);
    sink.answerWith((req) => ({ status: 200, body: { id: `prov-${req.body.callId}-a${req.body.attempt}` } }));
    await runTick(deps, jobWith(sink.url), fireTime());
    expect(await providerId(call)).toBe(`prov-${call}-a1`);
    // The first attempt's outcome never came: it is counted unanswered and due again.
    await db.query(`UPDATE calls SET placed_at = now() - interval '2 hours' WHERE id = $1`, [call]);
    await runTick(deps, jobWith(sink.url, 3600), fireTime());
    await db.query(`UPDATE calls SET next_attempt_at = now() - interval '1 second' WHERE id = $1`, [call]);
    // The second attempt is accepted without an id of its own: the first one's must not stand for it.
    sink.answerWith(() => ({ status: 200, body: {} }));
    await runTick(deps, jobWith(sink.url), fireTime());
    expect(await row(call)).toEqual(expect.objectContaining({ status: 'dialing', attempts: 2 }));
    expect(await providerId(call)).toBeNull();
    sink.answerWith((req) => ({ status: 200, body: { id: `prov-${req.body.callId}` } }));
    await db.query(`UPDATE calls SET status = 'cancelled' WHERE id = $1`, [call]);
  });

  it('counts a placed call whose outcome never came as unanswered, and retries it', async () => {
    const silent = await queue('open', 2);
    await runTick(deps, jobWith(sink.url), fireTime());
    expect((await row(silent)).status).toBe('dialing');
    await db.query(`UPDATE calls SET placed_at = now() - interval '2 hours' WHERE id = $1`, [silent]);
    await runTick(deps, jobWith(sink.url, 3600), fireTime());
    expect(await row(silent)).toEqual(expect.objectContaining({ status: 'queued', attempts: 1, spacing_s: dueIn(600) }));
    expect((await row(silent)).last_error).toMatch(/no outcome reported/);
    // Second and last attempt, silent too: final no-answer.
    await db.query(`UPDATE calls SET next_attempt_at = now() - interval '1 second' WHERE id = $1`, [silent]);
    await runTick(deps, jobWith(sink.url), fireTime());
    await db.query(`UPDATE calls SET placed_at = now() - interval '2 hours' WHERE id = $1`, [silent]);
    await runTick(deps, jobWith(sink.url, 3600), fireTime());
    expect(await row(silent)).toEqual(expect.objectContaining({ status: 'no-answer', attempts: 2, ended: true }));
  });
});
