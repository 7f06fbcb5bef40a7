import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { startDeadline, withDeadline } from '../../src/util/deadline';
import { TEST_REDIS_URL } from '../support/services';
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

/** Holds the event loop for `ms`, as a long synchronous stretch of the worker would. */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

describe('withDeadline and startDeadline: a stall of this process is not a dependency that did not answer', () => {
  let socket: net.Socket;
  // startDeadline's own connection: a BLPOP left blocking on one holds back the next PING on it.
  let signalSocket: net.Socket;
  beforeAll(async () => {
    // The real Redis, another process: its answer arrives while this one is blocked.
    const url = new URL(TEST_REDIS_URL);
    const open = async () => {
      const s = net.connect(Number(url.port || 6379), url.hostname);
      await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
      return s;
    };
    [socket, signalSocket] = await Promise.all([open(), open()]);
  });
  afterAll(() => {
    socket.destroy();
    signalSocket.destroy();
  });

  /** PING on the raw socket under a 50 ms deadline; then `stallMs` of a blocked loop (from the check phase, so the next turn runs its timers before its I/O). */
  const pingThroughStall = (stallMs: number, command = 'PING\r\n') =>
    new Promise<{ answer?: string; error?: string }>((resolve) => {
      setImmediate(() => {
        const answer = new Promise<string>((r) => socket.once('data', (d: Buffer) => r(d.toString())));
        socket.write(command);
        withDeadline(answer, 50, 'redis ping').then(
          (a) => resolve({ answer: a }),
          (err: Error) => resolve({ error: `${err.name}: ${err.message}` }),
        );
        blockEventLoop(stallMs);
      });
    });

  it('takes an answer that came in while the event loop was blocked past the deadline', async () => {
    // Before: the expired timer ran first in the turn after the stall, and this was a timeout.
    expect(await pingThroughStall(300)).toEqual({ answer: '+PONG\r\n' });
  });

  it('still fails a dependency that does not answer, stall or no stall', async () => {
    // BLPOP on a key no one pushes to: Redis answers in 5 s, long after the deadline.
    const silent = `BLPOP crmw-deadline-test-${process.pid} 5\r\n`;
    expect(await pingThroughStall(0, silent)).toEqual({ error: 'DeadlineExceededError: redis ping did not answer within 50 ms' });
  });

  /** The same under startDeadline's signal, the way a send uses it: the operation clears the deadline once it settles. */
  const pingThroughStallSignal = (stallMs: number, command = 'PING\r\n') =>
    new Promise<{ answer?: string; error?: string }>((resolve) => {
      setImmediate(() => {
        const deadline = startDeadline(50, 'redis ping');
        const answer = new Promise<string>((r, reject) => {
          signalSocket.once('data', (d: Buffer) => r(d.toString()));
          deadline.signal.addEventListener('abort', () => reject(deadline.signal.reason as Error), { once: true });
        });
        signalSocket.write(command);
        answer
          .then(
            (a) => resolve({ answer: a }),
            (err: Error) => resolve({ error: `${err.name}: ${err.message}` }),
          )
          .finally(() => deadline.clear());
        blockEventLoop(stallMs);
      });
    });

  it('startDeadline: takes an answer that came in while the event loop was blocked past the deadline', async () => {
    // Before: the timer aborted the signal in the turn after the stall, before the answer was read.
    expect(await pingThroughStallSignal(300)).toEqual({ answer: '+PONG\r\n' });
  });

  it('startDeadline: still aborts for a dependency that does not answer', async () => {
    const silent = `BLPOP crmw-deadline-signal-test-${process.pid} 5\r\n`;
    expect(await pingThroughStallSignal(0, silent)).toEqual({ error: 'TimeoutError: redis ping did not answer within 50 ms' });
  });
});
