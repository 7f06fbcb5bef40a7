import fs from 'node:fs';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted } from '../support/worker-process';

/** Whether a pid is a live process (a zombie waiting for its reaper counts as gone). */
function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * `npm start` is the README's run command. npm does not pass SIGTERM on through the `sh -c` it
 * runs scripts in: npm exited and the worker kept running, holding its leases. A SIGTERM to npm
 * alone (a supervisor, `kill <npm pid>`) and a Ctrl-C (SIGINT to the terminal's whole process
 * group) must both drain the worker and end it.
 */
describe('`npm start` drains and exits on signals', () => {
  const fixture = useProcessFixture();
  // A worker left behind by npm (the bug) is not in reach of the fixture's cleanup once npm is gone.
  const workerPids: number[] = [];
  afterAll(() => {
    for (const pid of workerPids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  });

  const start = async (name: string) => {
    const npm = fixture.spawn(name, { ...fixture.serviceEnv(name + ':'), JOBS_ENABLED: 'false' }, { command: 'npm', args: ['start', '--silent'] });
    // Well inside the test's own limit, so a start that stalls fails with what npm and the worker said.
    const started = await waitUntilStarted(npm, 90_000);
    const workerPid = Number(started.pid);
    expect(workerPid).toBeGreaterThan(0);
    workerPids.push(workerPid);
    return { npm, workerPid };
  };

  it('SIGTERM to npm alone reaches the worker, which drains and exits', async () => {
    const { npm, workerPid } = await start('npm-term');
    process.kill(npm.child.pid!, 'SIGTERM');
    await npm.waitForLog('a clean shutdown', (l) => l.message === 'shutdown complete', 30_000);
    await waitFor('the worker process to be gone', () => !isRunning(workerPid), { limitMs: 30_000 });
  }, 180_000);

  it('Ctrl-C (SIGINT to the process group) drains the worker and ends it', async () => {
    const { npm, workerPid } = await start('npm-int');
    process.kill(-npm.child.pid!, 'SIGINT');
    await npm.waitForLog('a clean shutdown', (l) => l.message === 'shutdown complete', 30_000);
    await waitFor('the worker process to be gone', () => !isRunning(workerPid), { limitMs: 30_000 });
  }, 180_000);
});
