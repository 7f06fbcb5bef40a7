import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startPrivatePostgres, startPrivateStandby } from '../support/private-services';

/**
 * The fault tests stop, restart and promote throwaway PostgreSQL servers while workers send to
 * sinks in this same process. If those pg_ctl calls blocked the process, the sinks would stop
 * answering for as long as the call took, sends that had arrived would time out and be retried,
 * and the repeats would be blamed on the worker (fault table row 34 saw 15 of them once). Here a
 * local HTTP server must answer while each call is still running.
 */
describe('private PostgreSQL helpers keep this process answering', () => {
  let server: http.Server;
  let url: string;

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Requests answered while `operation` was running (it starts first, then the requests). */
  async function answeredDuring(operation: () => Promise<void>): Promise<number> {
    let running = true;
    let answered = 0;
    const done = operation().finally(() => {
      running = false;
    });
    while (running) {
      const res = await fetch(url);
      await res.text();
      if (running) answered++;
    }
    await done;
    return answered;
  }

  it('answers during pg_ctl stop, start, restart, and a standby promotion', async () => {
    const primary = await startPrivatePostgres();
    const standby = await startPrivateStandby(primary);
    try {
      const during = {
        stop: await answeredDuring(() => primary.stop('fast')),
        start: await answeredDuring(() => primary.start()),
        restart: await answeredDuring(() => primary.restart('fast')),
        promote: await answeredDuring(() => standby.promote()),
      };
      // With synchronous calls each count is 0: the loop only begins once the call has returned.
      expect(Object.entries(during).filter(([, n]) => n === 0)).toEqual([]);
    } finally {
      await standby.destroy();
      await primary.destroy();
    }
  }, 120_000);
});
