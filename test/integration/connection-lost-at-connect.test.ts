import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { REPO_ROOT } from '../support/worker-process';

const run = promisify(execFile);

/** What PostgreSQL sends a backend it terminates (pg_terminate_backend, a fast shutdown): FATAL 57P01. */
function terminationMessage(): Buffer {
  const field = (code: string, value: string) => Buffer.concat([Buffer.from(code), Buffer.from(value), Buffer.from([0])]);
  const body = Buffer.concat([
    field('S', 'FATAL'),
    field('V', 'FATAL'),
    field('C', '57P01'),
    field('M', 'terminating connection due to administrator command'),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

/**
 * In front of the real PostgreSQL: each connection's start-up passes through, and in the same TCP
 * write as the server's first ReadyForQuery comes the termination, then the close. That is the
 * moment a restart or pg_terminate_backend can hit a connection the pool has just opened; here it
 * is made to happen every time instead of once in a few hundred terminations.
 */
async function startTerminatingProxy(target: { host: string; port: number }): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => upstream.write(chunk));
    let pending = Buffer.alloc(0);
    let done = false;
    upstream.on('data', (chunk: Buffer) => {
      if (done) return;
      pending = Buffer.concat([pending, chunk]);
      // Server messages: a type byte and a length that counts itself.
      let offset = 0;
      while (pending.length >= offset + 5) {
        const end = offset + 1 + pending.readInt32BE(offset + 1);
        if (pending.length < end) break;
        if (pending[offset] === 'Z'.charCodeAt(0)) {
          done = true;
          client.end(Buffer.concat([pending.subarray(0, end), terminationMessage()]));
          upstream.destroy();
          return;
        }
        offset = end;
      }
      // Whole messages before the ReadyForQuery go on as they come (authentication, parameters).
      if (offset > 0) {
        client.write(pending.subarray(0, offset));
        pending = pending.subarray(offset);
      }
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', () => {
      if (!done) client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The worker's pool against a server that terminates every new connection the instant it is
 * ready, run in a process of its own as the worker runs it (its handler exits on an uncaught
 * exception). Before the fix, pg emitted the termination on a connection that pg-pool had just
 * handed out and whose holder did not listen yet (`await pool.connect()` had not resumed): an
 * uncaught 'error', and the worker exited. That is how one of three workers died in the
 * PostgreSQL restart test on this machine.
 */
describe('a connection terminated as it opens', () => {
  let database: TestDatabase;
  let proxy: Awaited<ReturnType<typeof startTerminatingProxy>>;

  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.url);
    proxy = await startTerminatingProxy({ host: url.hostname, port: Number(url.port || 5432) });
  });
  afterAll(async () => {
    await proxy?.close();
    await database?.drop();
  });

  it('fails the transaction or LISTEN that wanted it, and the process lives', async () => {
    const url = new URL(database.url);
    url.host = `127.0.0.1:${proxy.port}`;
    const dist = path.join(REPO_ROOT, 'dist');
    const script = `
      const { createPgDatabase } = require(${JSON.stringify(path.join(dist, 'db', 'pg-database.js'))});
      const { createLogger } = require(${JSON.stringify(path.join(dist, 'logging', 'logger.js'))});
      process.on('uncaughtException', (err) => { console.log(JSON.stringify({ uncaught: err.message })); process.exit(3); });
      (async () => {
        const logger = createLogger({ level: 'error', instanceId: 'test', silent: true });
        const db = createPgDatabase({ url: ${JSON.stringify(url.toString())}, poolMax: 2, minIdle: 0, queryTimeoutMs: 5000, applicationName: 'lost at connect', logger });
        const outcomes = [];
        for (let i = 0; i < 3; i++) {
          outcomes.push(await db.transaction((tx) => tx.query('SELECT 1')).then(() => 'committed', (err) => 'failed: ' + err.message));
          outcomes.push(await db.listen('lost_at_connect', () => undefined).then(() => 'listening', (err) => 'failed: ' + err.message));
        }
        await db.close();
        console.log(JSON.stringify({ outcomes }));
      })();
    `;
    const result = await run(process.execPath, ['-e', script], { cwd: REPO_ROOT }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    const last = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { uncaught?: string; outcomes?: string[] };
    expect({ code: result.code, uncaught: last.uncaught }).toEqual({ code: 0, uncaught: undefined });
    // Each one asked for a connection, got one that was already lost, and said so.
    expect(last.outcomes).toHaveLength(6);
    for (const outcome of last.outcomes!) expect(outcome).toMatch(/^failed: /);
    expect(proxy.connections()).toBeGreaterThanOrEqual(6);
  });
});
