import { execFileSync } from 'node:child_process';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'test-api-key-0123456789';

/**
 * The jobs a worker registers with no telephony webhook, Qdrant or OpenAI configured:
 * [lock name, /health and /metrics key].
 */
const DEFAULT_JOBS: Array<[string, string]> = [
  ['trial-expiration', 'trialExpiration'],
  ['call-cleanup', 'callCleanup'],
  ['campaign-scheduler', 'campaignScheduler'],
  ['lead-reminder-scheduler', 'leadReminderScheduler'],
  ['nurture-sequences', 'nurtureSequences'],
  ['dunning-scheduler', 'dunningScheduler'],
  ['kpi-snapshots', 'kpiSnapshots'],
];

describe('/health, /metrics and /api/jobs of a running worker', () => {
  const keys = createKeyPrefix();
  let db: TestDatabase;
  let worker: WorkerProcess;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    worker = spawnWorker('http', {
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      API_KEY,
      TRIAL_EXPIRATION_CRON: '*/1 * * * * *',
    });
    workers.push(worker);
    await waitUntilStarted(worker);
    await worker.waitForLog('a first run', (l) => l.message === 'job run finished' && l.job === 'trial-expiration');
  });
  afterAll(async () => {
    await killAll(workers);
    await keys.removeKeys();
    await db.drop();
  });

  it('GET /health answers in the design shape', async () => {
    const response = await worker.get('/health');
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({
      status: 'ok',
      timestamp: expect.any(String),
      uptime: expect.any(Number),
      // No TELEPHONY_WEBHOOK_URL here: the call-scheduler is not registered and says so.
      services: {
        redis: 'connected',
        database: 'connected',
        qdrant: 'disabled',
        knowledgeSync: 'disabled',
        qdrantSnapshot: 'disabled',
        telephony: 'disabled',
      },
      jobs: Object.fromEntries(DEFAULT_JOBS.map(([, key]) => [key, expect.any(Boolean)])),
      modes: { database: 'postgres', locks: 'redis' },
    });
    // The instance id (a host name by default) shows only to a caller with the API key.
    expect((await worker.get('/health', { 'x-api-key': API_KEY })).json()).toEqual(expect.objectContaining({ instance: 'http' }));
    expect((await worker.get('/health/live')).status).toBe(200);
    expect((await worker.get('/health/ready')).json()).toEqual({ status: 'ready' });
  });

  it('GET /metrics gives the design JSON by default', async () => {
    const body = (await worker.get('/metrics')).json();
    expect(Object.keys(body).sort()).toEqual(['jobsProcessed', 'lastRun', 'uptime']);
    const keys = DEFAULT_JOBS.map(([, key]) => key).sort();
    expect(Object.keys(body.jobsProcessed).sort()).toEqual(keys);
    expect(Object.keys(body.lastRun).sort()).toEqual(keys);
    // Only trial-expiration runs every second here, with nothing to do; the others have not run
    // or ran (at a minute boundary) with nothing to process.
    expect(Object.values(body.jobsProcessed).every((n) => n === 0)).toBe(true);
    expect(body.lastRun.trialExpiration).toMatch(/^\d{4}-/);
    expect(body.lastRun.callCleanup).toBeNull();
    expect(typeof body.uptime).toBe('number');
  });

  it('GET /metrics in Prometheus text passes promtool check metrics', async () => {
    const response = await worker.get('/metrics', { accept: 'text/plain' });
    expect(response.status).toBe(200);
    for (const expected of [
      'crm_worker_job_runs_total{job="trial-expiration",outcome="succeeded"}',
      'crm_worker_job_run_duration_seconds_bucket{le="0.005",job="trial-expiration",outcome="succeeded"}',
      'crm_worker_job_last_success_timestamp_seconds{job="trial-expiration"}',
      '# TYPE crm_worker_lock_contention_total counter',
      '# TYPE crm_worker_missed_ticks_total counter',
    ]) {
      expect(response.body).toContain(expected);
    }
    // promtool exits non-zero and prints each problem when the exposition is malformed.
    const output = execFileSync('promtool', ['check', 'metrics'], { input: response.body, encoding: 'utf8' });
    expect(output.trim()).toBe('');
    const open = await worker.get('/metrics', { accept: 'application/openmetrics-text; version=1.0.0' });
    expect(open.body.trim().endsWith('# EOF')).toBe(true);
  });

  it('keeps both formats correct whatever order they are scraped in (OpenMetrics, text, OpenMetrics, text)', async () => {
    const promtool = (text: string) => execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' }).trim();
    let previousText = (await worker.get('/metrics', { accept: 'text/plain' })).body;
    for (let round = 1; round <= 2; round++) {
      const open = (await worker.get('/metrics', { accept: 'application/openmetrics-text; version=1.0.0' })).body;
      // OpenMetrics names the counter family without _total and each sample with it, once.
      expect(open).toContain('# TYPE crm_worker_job_runs counter');
      expect(open).toContain('crm_worker_job_runs_total{job="trial-expiration",outcome="succeeded"}');
      expect(open).not.toContain('_total_total');
      expect(open.trim().endsWith('# EOF')).toBe(true);
      // The text is kept for a second: wait for one rendered after that OpenMetrics render.
      const text = await waitFor(`a Prometheus text rendered after OpenMetrics scrape ${round}`, async () => {
        const body = (await worker.get('/metrics', { accept: 'text/plain' })).body;
        return body !== previousText ? body : undefined;
      });
      expect(text).toContain('# TYPE crm_worker_job_runs_total counter');
      expect(text).toContain('crm_worker_job_runs_total{job="trial-expiration",outcome="succeeded"}');
      expect(text).toContain('# TYPE crm_worker_missed_ticks_total counter');
      expect(promtool(text)).toBe('');
      previousText = text;
    }
  });

  it('/api needs the API key', async () => {
    expect((await worker.get('/api/jobs')).status).toBe(401);
    expect((await worker.get('/api/jobs', { 'x-api-key': 'wrong-key-wrong-key' })).status).toBe(401);
    expect((await worker.get('/api/jobs', { authorization: `Bearer ${API_KEY}` })).status).toBe(200);
  });

  it('GET /api/jobs lists each job with schedule, lock key, last and next run', async () => {
    const { jobs } = (await worker.get('/api/jobs', { 'x-api-key': API_KEY })).json();
    expect(jobs.map((j: { name: string }) => j.name).sort()).toEqual(DEFAULT_JOBS.map(([name]) => name).sort());
    expect(jobs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'trial-expiration',
          schedule: '*/1 * * * * *',
          lockKey: `${keys.prefix}lock:trial-expiration`,
          lastOutcome: 'succeeded',
          lastRun: expect.any(String),
          nextRun: expect.any(String),
        }),
        expect.objectContaining({ name: 'call-cleanup', schedule: '0 30 3 * * *', lockKey: `${keys.prefix}lock:call-cleanup` }),
        expect.objectContaining({ name: 'campaign-scheduler', schedule: '0 * * * * *', lockKey: `${keys.prefix}lock:campaign-scheduler` }),
      ]),
    );
  });

  it('GET /api/jobs/:name/runs returns the recorded history, and names bad input', async () => {
    const { runs } = (await worker.get('/api/jobs/trial-expiration/runs?limit=5', { 'x-api-key': API_KEY })).json();
    expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(runs[0]).toEqual(expect.objectContaining({ job: 'trial-expiration', instance: 'http', outcome: expect.any(String), items: 0 }));
    const bad = await worker.get('/api/jobs/trial-expiration/runs?limit=zero', { 'x-api-key': API_KEY });
    expect(bad.status).toBe(400);
    expect(bad.json().error).toMatch(/^limit:/);
    expect((await worker.get('/api/jobs/no-such-job/runs', { 'x-api-key': API_KEY })).status).toBe(404);
  });

  it('logs are JSON lines carrying job, run id and instance, with no secrets', () => {
    const finished = worker.logs.find((l) => l.message === 'job run finished')!;
    expect(finished).toEqual(expect.objectContaining({ job: 'trial-expiration', runId: expect.any(String), instance: 'http' }));
    const all = JSON.stringify(worker.logs);
    expect(all).not.toContain(API_KEY);
    expect(all).not.toContain(db.url);
  });
});
