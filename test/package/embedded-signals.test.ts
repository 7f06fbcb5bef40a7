import path from 'node:path';
import { useProcessFixture } from '../support/process-fixture';
import { waitUntilStarted } from '../support/worker-process';

const EMBEDDED_APP = path.join(__dirname, 'fixtures', 'embedded-app.js');

/** startWorker from the package entry point: who owns the process's signals. */
describe('startWorker in an application process', () => {
  const fixture = useProcessFixture();
  const env = () => ({ DATABASE_URL: fixture.db.url, JOBS_ENABLED: 'false', LOG_LEVEL: 'info' });

  it('with handleSignals, SIGTERM drains the worker and the process exits 0', async () => {
    const app = fixture.spawn('embedded-signals', { ...env(), EMBED_HANDLE_SIGNALS: 'true' }, { script: EMBEDDED_APP });
    await waitUntilStarted(app);
    expect((await app.get('/health')).status).toBe(200);
    app.kill('SIGTERM');
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    expect(app.logs.map((l) => l.message)).toEqual(expect.arrayContaining(['signal received: shutting down', 'shutdown complete']));
  });

  it('without it, the worker installs no handler: SIGTERM does what the application says (here: Node default)', async () => {
    const app = fixture.spawn('embedded-no-signals', env(), { script: EMBEDDED_APP });
    await waitUntilStarted(app);
    app.kill('SIGTERM');
    expect(await app.waitForExit()).toEqual({ code: null, signal: 'SIGTERM' });
    expect(app.logs.map((l) => l.message)).not.toContain('signal received: shutting down');
  });
});
