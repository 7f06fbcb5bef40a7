import { DateTime } from 'luxon';
import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { startTelephonySink } from '../fakes/telephony-sink';
import { reserveConnectionsForFile } from '../support/connection-budget';

const API_KEY = 'calls-test-api-key-0123456789';
const WEBHOOK_TOKEN = 'telephony-token-abc';

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(19);

/**
 * A real worker process with the call-scheduler firing every second (CALL_SCHEDULER_CRON) and a
 * telephony receiver on loopback: calls enqueued through the API ring, outcomes come back through
 * the API, unanswered calls ring again after the spacing, closed hours hold calls back, and bad
 * bodies are refused with the field named and nothing written.
 */
describe('call-scheduler in a worker process, through its schedule and the API', () => {
  const fixture = useProcessFixture();
  let sink: Awaited<ReturnType<typeof startTelephonySink>>;
  let worker: WorkerProcess;

  beforeAll(async () => {
    sink = await startTelephonySink();
  });
  afterAll(async () => {
    await sink.close();
  });

  async function api(method: string, path: string, body?: unknown, on: WorkerProcess = worker) {
    const response = await fetch(`http://127.0.0.1:${on.port()}/api${path}`, {
      method,
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  }
  const sql = <R extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);

  it('places calls through the schedule, retries the unanswered, and reports outcomes', async () => {
    worker = fixture.spawn('calls-worker', {
      ...fixture.serviceEnv('a:'),
      API_KEY,
      TELEPHONY_WEBHOOK_URL: sink.url,
      TELEPHONY_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      CALL_SCHEDULER_CRON: '* * * * * *',
      CALL_RETRY_SPACING_SECONDS: '1',
    });
    await waitUntilStarted(worker);
    await sql(`INSERT INTO tenants (id, name, status, timezone) VALUES ('acme', 'Acme', 'active', 'America/New_York')`);
    const allDay = Object.fromEntries(
      ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'].map((d) => [d, [{ opens: '00:00', closes: '24:00' }]]),
    );
    const settings = await api('PUT', '/call-settings/acme', { hours: allDay, holidays: [], maxAttempts: 4 });
    expect(settings.status).toBe(200);

    const enqueued = await api('POST', '/calls', { tenantId: 'acme', contactId: 'c-1', phone: '+14155550100', timezone: 'Asia/Kolkata' });
    expect(enqueued.status).toBe(201);
    const id: string = enqueued.json.call.id;
    expect(enqueued.json.call).toEqual(expect.objectContaining({ status: 'queued', max_attempts: 4, contact_timezone: 'Asia/Kolkata' }));

    const first = await waitFor('first ring', () => sink.requests.find((r) => r.body.callId === id && r.body.attempt === 1));
    expect(first.body).toEqual({ callId: id, tenantId: 'acme', contactId: 'c-1', to: '+14155550100', attempt: 1, timezone: 'Asia/Kolkata' });
    expect(first.authorization).toBe(`Bearer ${WEBHOOK_TOKEN}`);
    expect(first.idempotencyKey).toBe(`call-${id}-attempt-1`);
    const dialing = await waitFor('provider id stored', async () => {
      const { json } = await api('GET', `/calls/${id}`);
      return json.call.provider_call_id ? json.call : undefined;
    });
    expect(dialing).toEqual(expect.objectContaining({ status: 'dialing', attempts: 1, provider_call_id: `prov-${id}-1` }));

    const noAnswer = await api('POST', `/calls/${id}/outcome`, { outcome: 'no-answer', attempt: 1 });
    expect(noAnswer.status).toBe(200);
    expect(noAnswer.json.call).toEqual(expect.objectContaining({ status: 'queued', attempts: 1, last_outcome: 'no-answer' }));
    await waitFor('second ring after the spacing', () => sink.requests.find((r) => r.body.callId === id && r.body.attempt === 2));

    // A late report about the first attempt changes nothing.
    const stale = await api('POST', `/calls/${id}/outcome`, { outcome: 'completed', attempt: 1 });
    expect(stale.status).toBe(409);
    expect(stale.json.error).toMatch(/^attempt: /);
    expect((await api('POST', `/calls/${id}/outcome`, { outcome: 'answered', attempt: 2 })).json.call.status).toBe('in-progress');
    const done = await api('POST', `/calls/${id}/outcome`, { outcome: 'completed', attempt: 2 });
    expect(done.json.call).toEqual(expect.objectContaining({ status: 'completed', attempts: 2 }));
    expect(sink.requests.filter((r) => r.body.callId === id)).toHaveLength(2);

    const completed = await api('GET', '/calls?status=completed');
    expect(completed.json.calls.map((c: { id: string }) => c.id)).toEqual([id]);
    expect((await api('GET', '/calls?status=queued')).json.calls).toEqual([]);

    // Ran through its schedule, under its name, shown in /api/jobs and /health.
    const runs = await sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM job_runs WHERE job = 'call-scheduler' AND trigger = 'schedule' AND outcome = 'succeeded'`,
    );
    expect(runs[0]!.n).toBeGreaterThanOrEqual(2);
    const jobs = (await api('GET', '/jobs')).json.jobs.map((j: { name: string; lockKey: string }) => [j.name, j.lockKey]);
    expect(jobs).toContainEqual(['call-scheduler', expect.stringMatching(/lock:call-scheduler$/)]);
    const health = (await worker.get('/health')).json();
    expect(Object.keys(health.jobs)).toContain('callScheduler');
    expect(health.services.telephony).toBeUndefined();
  });

  it('two replicas on one queue: every call rung once', async () => {
    const second = fixture.spawn('calls-worker-2', {
      ...fixture.serviceEnv('a:'),
      API_KEY,
      TELEPHONY_WEBHOOK_URL: sink.url,
      CALL_SCHEDULER_CRON: '* * * * * *',
      CALL_BATCH_SIZE: '4',
    });
    await waitUntilStarted(second);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const target = i % 2 === 0 ? worker : second;
      const { json } = await api('POST', '/calls', { tenantId: 'acme', phone: `+1415555${String(1000 + i)}` }, target);
      ids.push(json.call.id);
    }
    await waitFor('all 30 rung', () => ids.every((id) => sink.received.some((r) => r.body.callId === id)));
    // A moment more for any second ring to show up, then count every POST, duplicates included.
    const runsNow = (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM job_runs WHERE job = 'call-scheduler'`))[0]!.n;
    await waitFor(
      'two more ticks',
      async () => (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM job_runs WHERE job = 'call-scheduler'`))[0]!.n >= runsNow + 2,
    );
    const perCall = ids.map((id) => sink.received.filter((r) => r.body.callId === id).length);
    expect(perCall).toEqual(ids.map(() => 1));
    const statuses = await sql<{ status: string; attempts: number }>(`SELECT DISTINCT status, attempts FROM calls WHERE id = ANY($1::bigint[])`, [ids]);
    expect(statuses).toEqual([{ status: 'dialing', attempts: 1 }]);
    second.kill('SIGTERM');
    await second.waitForExit();
    await sql(`UPDATE calls SET status = 'cancelled' WHERE id = ANY($1::bigint[])`, [ids]);
  });

  it('holds a call outside business hours and stores its next open slot', async () => {
    // Open only on the weekday after tomorrow (UTC): no tick of this test can fall inside.
    const opensOn = DateTime.utc().plus({ days: 2 }).startOf('day');
    const dayName = opensOn.toFormat('cccc').toLowerCase();
    await sql(`INSERT INTO tenants (id, name, status, timezone) VALUES ('closed-co', 'Closed', 'active', 'UTC')`);
    expect((await api('PUT', '/call-settings/closed-co', { hours: { [dayName]: [{ opens: '10:00', closes: '11:00' }] } })).status).toBe(200);
    const { json } = await api('POST', '/calls', { tenantId: 'closed-co', phone: '+4930123456' });
    const id: string = json.call.id;
    const held = await waitFor('the next slot stored', async () => {
      const call = (await api('GET', `/calls/${id}`)).json.call;
      return call.next_attempt_at !== json.call.next_attempt_at ? call : undefined;
    });
    expect(held).toEqual(
      expect.objectContaining({
        status: 'queued',
        attempts: 0,
        next_attempt_at: opensOn.set({ hour: 10 }).toISO({ suppressMilliseconds: false }).replace('+00:00', 'Z'),
      }),
    );
    // Later ticks leave it alone: it is not due again until then.
    const ranSince = (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM job_runs WHERE job = 'call-scheduler'`))[0]!.n;
    await waitFor(
      'two more ticks',
      async () => (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM job_runs WHERE job = 'call-scheduler'`))[0]!.n >= ranSince + 2,
    );
    expect(sink.requests.filter((r) => r.body.callId === id)).toEqual([]);
    expect((await api('GET', `/calls/${id}`)).json.call.next_attempt_at).toBe(held.next_attempt_at);

    // Withdrawn while waiting; a finished call cannot be cancelled.
    const cancelled = await api('POST', `/calls/${id}/cancel`);
    expect(cancelled.json.call).toEqual(expect.objectContaining({ status: 'cancelled', next_attempt_at: null }));
    const again = await api('POST', `/calls/${id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.json.error).toMatch(/^status: /);
  });

  it('refuses bad bodies with the field named and writes nothing', async () => {
    const before = await sql('SELECT * FROM calls ORDER BY id');
    const settingsBefore = (await api('GET', '/call-settings/acme')).json;
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['POST', '/calls', { tenantId: 'acme', phone: '555-1234' }, /^phone: /],
      ['POST', '/calls', { tenantId: 'acme', phone: '+14155550100', timezone: 'Mars/Olympus' }, /^timezone: /],
      ['POST', '/calls', { tenantId: 'nobody', phone: '+14155550100' }, /^tenantId: unknown tenant/],
      ['POST', '/calls', { tenantId: 'acme', phone: '+14155550100', notBefore: 'tomorrow' }, /^notBefore: /],
      ['POST', '/calls', { tenantId: 'acme', phone: '+14155550100', colour: 'red' }, /colour/],
      ['PUT', '/call-settings/acme', { hours: { monday: [{ opens: '17:00', closes: '09:00' }] } }, /^hours\.monday\.0\.closes: /],
      ['PUT', '/call-settings/acme', { hours: { monday: [{ opens: '25:00', closes: '26:00' }] } }, /^hours\.monday\.0\.opens: /],
      ['PUT', '/call-settings/acme', { hours: { funday: [] } }, /^hours: .*funday/],
      [
        'PUT',
        '/call-settings/acme',
        {
          hours: {
            monday: [
              { opens: '09:00', closes: '12:00' },
              { opens: '11:00', closes: '13:00' },
            ],
          },
        },
        /^hours\.monday: .*overlap/,
      ],
      ['PUT', '/call-settings/acme', { hours: {}, holidays: ['2026-02-30'] }, /^holidays\.0: /],
      ['PUT', '/call-settings/acme', { hours: {}, retrySpacingSeconds: -5 }, /^retrySpacingSeconds: /],
      ['POST', `/calls/${before[0]!.id}/outcome`, { outcome: 'maybe' }, /^outcome: /],
    ];
    for (const [method, path, body, error] of cases) {
      const response = await api(method, path, body);
      expect({ path, body, status: response.status }).toEqual({ path, body, status: 400 });
      expect(response.json.error).toMatch(error);
    }
    expect((await api('GET', '/calls?status=ringing')).json.error).toMatch(/^status: /);
    expect(await sql('SELECT * FROM calls ORDER BY id')).toEqual(before);
    expect((await api('GET', '/call-settings/acme')).json).toEqual(settingsBefore);
  });

  it('without TELEPHONY_WEBHOOK_URL the job is not registered and /health shows telephony disabled', async () => {
    const idle = fixture.spawn('calls-no-webhook', { ...fixture.serviceEnv('b:'), API_KEY, CALL_SCHEDULER_CRON: '* * * * * *' });
    await waitUntilStarted(idle);
    const health = (await idle.get('/health')).json();
    expect(health.services.telephony).toBe('disabled');
    expect(Object.keys(health.jobs)).not.toContain('callScheduler');
    const jobs = (await api('GET', '/jobs', undefined, idle)).json.jobs.map((j: { name: string }) => j.name);
    expect(jobs).not.toContain('call-scheduler');
    expect(idle.logs.some((l) => l.message?.startsWith('call-scheduler disabled'))).toBe(true);
    // Calls can still be queued; they wait for a worker that can place them.
    expect((await api('POST', '/calls', { tenantId: 'acme', phone: '+14155550111' }, idle)).status).toBe(201);
  });
});
