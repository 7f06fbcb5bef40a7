import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startDeadline } from '../../src/util/deadline';
import { REPO_ROOT } from '../support/worker-process';

const run = promisify(execFile);

describe('startDeadline: a deadline signal that holds under garbage collection', () => {
  it('aborts with a TimeoutError at its deadline, or with the reason of a linked signal', async () => {
    const deadline = startDeadline(20, 'a test call');
    await new Promise((resolve) => deadline.signal.addEventListener('abort', resolve, { once: true }));
    expect(deadline.expired).toBe(true);
    expect((deadline.signal.reason as Error).name).toBe('TimeoutError');
    expect((deadline.signal.reason as Error).message).toBe('a test call did not answer within 20 ms');

    const caller = new AbortController();
    const linked = startDeadline(60_000, 'a linked call', caller.signal);
    caller.abort(new Error('caller gave up'));
    expect(linked.signal.aborted).toBe(true);
    expect(linked.expired).toBe(false);
    expect((linked.signal.reason as Error).message).toBe('caller gave up');

    const cleared = startDeadline(10, 'a settled call');
    cleared.clear();
    await new Promise((r) => setTimeout(r, 50));
    expect(cleared.signal.aborted).toBe(false);
  });

  it('ends a fetch to a server that never answers while gc() runs all the time (node --expose-gc)', async () => {
    // A child process, because jest's own process is not started with --expose-gc.
    const script = `
      const http = require('node:http');
      const { startDeadline } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'util', 'deadline.js'))});
      const server = http.createServer(() => {}).listen(0, '127.0.0.1', async () => {
        const gcs = setInterval(() => gc(), 10);
        const outer = new AbortController();
        const deadline = startDeadline(300, 'hanging server', outer.signal);
        try {
          await fetch('http://127.0.0.1:' + server.address().port + '/', { signal: deadline.signal });
          console.log('answered');
        } catch (err) {
          console.log('aborted:' + err.name);
        } finally {
          deadline.clear();
          clearInterval(gcs);
          server.closeAllConnections();
          server.close();
        }
      });
      setTimeout(() => { console.log('never aborted'); process.exit(1); }, 20000).unref();
    `;
    const { stdout } = await run(process.execPath, ['--expose-gc', '-e', script], { timeout: 60_000 });
    expect(stdout.trim()).toBe('aborted:TimeoutError');
  });
});
