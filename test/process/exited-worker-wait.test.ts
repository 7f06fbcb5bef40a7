import { spawnWorker, waitUntilStarted } from '../support/worker-process';

/**
 * The harness: waiting for a line from a worker that has exited ends at once with its stderr,
 * instead of polling to the wait's limit (a config error used to cost a test its whole limit,
 * 120 s in the quiet-hours run, before saying so). The limit here is an hour and the test's own
 * timeout two minutes: a wait that polled on would fail the test by its timeout.
 */
describe('waiting on an exited worker', () => {
  it('rejects with the exit and stderr as soon as the process has gone', async () => {
    const worker = spawnWorker('exits-at-once', { DELIVERY_MAX_SLEEP_MS: 'soon' });
    await expect(waitUntilStarted(worker, 3_600_000)).rejects.toThrow(/exited \(\{"code":78,"signal":null\}\); stderr: config error: DELIVERY_MAX_SLEEP_MS/);
  }, 120_000);
});
