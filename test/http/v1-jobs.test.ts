import { startTelephonySink } from '../fakes/telephony-sink';
import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'v1-jobs-test-key-0123456789';

/**
 * /api/v1/jobs and /api/v1/jobs/{name}/runs on a real worker process whose call-scheduler fires
 * every second: the jobs by name, a job's recorded runs walked newest first page by page (no run
 * missed or repeated while new ones are recorded), 404 for an unknown job, 400 naming the field.
 */
describe('/api/v1/jobs', () => {
  const fixture = useProcessFixture();
  let sink: Awaited<ReturnType<typeof startTelephonySink>>;
  let worker: WorkerProcess;

  beforeAll(async () => {
    sink = await startTelephonySink();
    worker = fixture.spawn('v1-jobs', { ...fixture.serviceEnv(), API_KEY, TELEPHONY_WEBHOOK_URL: sink.url, CALL_SCHEDULER_CRON: '* * * * * *' });
    await waitUntilStarted(worker);
  });
  afterAll(async () => sink?.close());

  const call = v1Client(() => worker, API_KEY);
  const sql = <R extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);

  it('lists the jobs by name, a page at a time, with their schedule and lease key', async () => {
    const all = await call('GET', '/v1/jobs?limit=1000');
    expect(all.status).toBe(200);
    const names: string[] = all.body.items.map((j: { name: string }) => j.name);
    expect(names).toContain('call-scheduler');
    expect(names).toEqual([...names].sort());
    expect(all.body.items.find((j: { name: string }) => j.name === 'call-scheduler')).toMatchObject({
      schedule: '* * * * * *',
      lockKey: expect.stringMatching(/lock:call-scheduler$/),
      nextRunAt: expect.any(String),
    });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: Array<{ name: string }>; nextCursor: string | null } } = await call(
        'GET',
        `/v1/jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((j) => j.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(names);
    expect((await call('GET', '/v1/jobs?limit=0')).body).toMatchObject({ status: 400, errors: [{ field: 'limit' }] });
    expect((await call('GET', '/v1/jobs?name=x')).body).toMatchObject({ status: 400, errors: [{ field: 'name' }] });
  });

  it("walks a job's runs newest first to the end, every run once, while new runs are recorded", async () => {
    await waitFor(
      'five call-scheduler runs',
      async () => (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM job_runs WHERE job = 'call-scheduler'`))[0]!.n >= 5,
    );
    const seen: Array<{ id: string; fireTime: string }> = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: Array<{ id: string; fireTime: string; job: string }>; nextCursor: string | null } } = await call(
        'GET',
        `/v1/jobs/call-scheduler/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      expect(page.body.items.every((r) => r.job === 'call-scheduler')).toBe(true);
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    // Every run recorded up to the newest one of the first page, newest first, none twice.
    const stored = await sql<{ id: string }>(
      `SELECT id::text AS id FROM job_runs WHERE job = 'call-scheduler' AND fire_time <= $1 ORDER BY fire_time DESC, id DESC`,
      [seen[0]!.fireTime],
    );
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(seen.map((r) => r.id)).toEqual(stored.map((r) => r.id));

    expect((await call('GET', '/v1/jobs/no-such-job/runs')).status).toBe(404);
    expect((await call('GET', '/v1/jobs/call-scheduler/runs?limit=abc')).body).toMatchObject({ errors: [{ field: 'limit' }] });
    expect((await call('GET', '/v1/jobs/call-scheduler/runs?cursor=bm90LWEtY3Vyc29y')).body).toMatchObject({ errors: [{ field: 'cursor' }] });
    // A cursor of another list is refused too.
    const jobsPage = await call('GET', '/v1/jobs?limit=1');
    expect((await call('GET', `/v1/jobs/call-scheduler/runs?cursor=${jobsPage.body.nextCursor}`)).status).toBe(400);
  });
});
