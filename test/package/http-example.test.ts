import { runClockEnv } from '../support/faketime';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { useProcessFixture } from '../support/process-fixture';
import { REPO_ROOT, waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const SCRIPT = path.join(REPO_ROOT, 'examples', 'http', 'schedule-email.sh');
const API_KEY = 'http-example-test-key';

/** examples/http/schedule-email.sh as a newcomer runs it: curl against a real worker process's /api. */
describe('the HTTP example', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;

  beforeAll(async () => {
    // No SMTP settings: the e-mail goes to the log channel, as on a fresh machine.
    worker = fixture.spawn('http-example', { DATABASE_URL: fixture.db.url, API_KEY, JOBS_ENABLED: 'false', LOG_LEVEL: 'info' });
    await waitUntilStarted(worker);
  });

  it('schedules an e-mail over HTTP, repeats it as a duplicate, and sees it sent once at its time', async () => {
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'bash',
        [SCRIPT],
        {
          env: {
            // A year ahead (scripts/test-year-ahead.sh) the script's `date` keeps the worker's moved clock.
            ...runClockEnv(),
            PATH: process.env.PATH ?? '',
            WORKER_URL: `http://127.0.0.1:${worker.port()}`,
            API_KEY,
            TENANT_ID: 'http-example',
            SEND_IN_SECONDS: '2',
          },
          timeout: 120_000,
        },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    if (result.code !== 0) throw new Error(`the script exited ${result.code}\n${result.stdout}\n${result.stderr}`);
    expect(result.stdout).toMatch(/^tenant: .*"outcome":"created"/m);
    expect(result.stdout).toMatch(/^scheduled: .*"scheduled":1/m);
    expect(result.stdout).toMatch(/^again: .*"duplicates":1/m);
    expect(result.stdout).toMatch(/^final: .*"status":"sent"/m);

    const rows = await fixture.sql(`SELECT tenant_id, channel, status, attempts, sent_at >= scheduled_at AS on_time FROM scheduled_messages`);
    expect(rows).toEqual([{ tenant_id: 'http-example', channel: 'email', status: 'sent', attempts: 1, on_time: true }]);
    // The log channel wrote the rendered e-mail (the address itself is redacted in the log).
    const logged = await worker.waitForLog('the logged e-mail', (l) => JSON.stringify(l).includes('Hi Ann, see you on Monday.'));
    expect(JSON.stringify(logged)).not.toContain('ann@example.com');
  });
});
