import path from 'node:path';
import { startSentryReceiver, type SentryReceiver } from '../fakes/sentry-receiver';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { waitFor } from '../support/wait';
import { killAll, REPO_ROOT, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'test-api-key-sentry-0123456789';
const PUBLIC_KEY = 'publickey0123456789abcdef';
const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'failing-job-worker.js');
const PERSONAL = ['ann@example.com', '+14155550123', '4155550123', API_KEY];

/**
 * Error tracking through the official Sentry SDK, received by a Sentry envelope endpoint in the test
 * tree: a failed tick and an unhandled error arrive as events, scrubbed by the logs' redaction.
 */
describe('error tracking (SENTRY_DSN)', () => {
  const workers: WorkerProcess[] = [];
  let db: TestDatabase;
  let sentry: SentryReceiver;

  beforeAll(async () => {
    sentry = await startSentryReceiver();
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await killAll(workers);
    await sentry?.close();
    await db?.drop();
  });

  const exceptionOf = (event: Record<string, any>) => event['exception']?.values?.[0] as { type: string; value: string } | undefined;

  it('a failed tick arrives as an event tagged with its job and run, with personal data and secrets masked', async () => {
    const worker = spawnWorker(
      'sentry-ticks',
      { DATABASE_URL: db.url, API_KEY, SENTRY_DSN: sentry.dsn(PUBLIC_KEY), SENTRY_ENVIRONMENT: 'test' },
      { script: FIXTURE },
    );
    workers.push(worker);
    await waitUntilStarted(worker);
    const event = await waitFor('an event of the failing job', () => sentry.events().find((e) => e['tags']?.job === 'failing'));
    expect(event['tags']).toEqual(
      expect.objectContaining({ job: 'failing', runId: expect.any(String), fireTime: expect.stringMatching(/^\d{4}-/), instance: 'sentry-ticks' }),
    );
    expect(event['environment']).toBe('test');
    expect(exceptionOf(event)).toEqual(expect.objectContaining({ type: 'Error', value: 'could not reach [email] at [phone] with key [REDACTED]' }));
    worker.kill('SIGTERM');
    expect((await worker.waitForExit(60_000)).code).toBe(0);
    for (const text of PERSONAL) expect(sentry.envelopes.map((e) => e.raw).join('\n')).not.toContain(text);
  });

  it('an unhandled error is reported, scrubbed, before the process exits 1', async () => {
    const before = sentry.events().length;
    const worker = spawnWorker('sentry-fatal', { DATABASE_URL: db.url, API_KEY, SENTRY_DSN: sentry.dsn(PUBLIC_KEY), FAIL_UNCAUGHT: '1' }, { script: FIXTURE });
    workers.push(worker);
    expect((await worker.waitForExit(120_000)).code).toBe(1);
    const fatal = sentry
      .events()
      .slice(before)
      .find((e) => e['tags']?.fatal === 'true');
    expect(fatal).toBeDefined();
    expect(exceptionOf(fatal!)).toEqual(expect.objectContaining({ value: 'uncaught: lost the reply for [email] (key [REDACTED])' }));
    for (const text of PERSONAL) expect(sentry.envelopes.map((e) => e.raw).join('\n')).not.toContain(text);
  });

  it('without SENTRY_DSN nothing is sent', async () => {
    const before = sentry.envelopes.length;
    const worker = spawnWorker('sentry-off', { DATABASE_URL: db.url, API_KEY }, { script: FIXTURE });
    workers.push(worker);
    await waitUntilStarted(worker);
    await worker.waitForLog('a failed run', (l) => l.message === 'job run finished' && l.job === 'failing' && l.outcome === 'failed');
    worker.kill('SIGTERM');
    await worker.waitForExit(60_000);
    expect(sentry.envelopes.length).toBe(before);
  });
});
