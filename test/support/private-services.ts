import { DEFAULT_SCHEMA } from '../../src/db/schema';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createClient, type RedisClientType } from '@redis/client';
import { waitFor } from './wait';

/**
 * Throwaway PostgreSQL and Redis servers for tests that stop and restart them: the shared
 * services must never be stopped under other tests. Same binaries as the shared ones.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startPrivateRedis() {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes'],
      // Redis keeps the real clock even when the run's clock is moved (scripts/test-year-ahead.sh):
      // redis-server hangs under libfaketime, and crm-worker gives Redis only relative times.
      { stdio: 'ignore', env: withoutFakeClock(process.env) },
    );
    await waitFor('private redis to accept connections', () => canConnect(port));
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop };
}

function withoutFakeClock(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { LD_PRELOAD: _preload, FAKETIME: _faketime, ...rest } = env;
  return rest;
}

function pgBin(name: string): string {
  const versions = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  return path.join('/usr/lib/postgresql', versions[0]!, 'bin', name);
}

/** A PostgreSQL binary's command line, run as the postgres OS user when we are root. */
function pgCommand(bin: string, args: string[]): [string, ...string[]] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', pgBin(bin), ...args] : [pgBin(bin), ...args];
}

/** For setup, before anything of the test runs in this process. */
function runPgSync(bin: string, args: string[]): void {
  const [exe, ...rest] = pgCommand(bin, args);
  execFileSync(exe, rest, { stdio: 'pipe' });
}

/**
 * For everything once a test runs: pg_ctl stop, promote and restart wait seconds, and a
 * synchronous call would freeze this process for as long — with the webhook sinks and fakes the
 * workers are talking to. A send then times out and is retried although it had arrived: a repeat
 * that the worker did not cause (it was seen once around the promotion, fault table row 34).
 */
function runPg(bin: string, args: string[]): Promise<void> {
  const [exe, ...rest] = pgCommand(bin, args);
  return new Promise<void>((resolve, reject) =>
    execFile(exe, rest, (err, _stdout, stderr) => (err ? reject(new Error(`${bin} ${args.join(' ')}: ${err.message} ${stderr}`)) : resolve())),
  );
}

/** initdb + pg_ctl in a temp folder, run as the postgres OS user when we are root. */
export async function startPrivatePostgres() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-pg-'));
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
  runPgSync('initdb', ['-D', path.join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const start = async () => {
    await runPg('pg_ctl', [
      '-D',
      path.join(dir, 'data'),
      '-l',
      path.join(dir, 'log'),
      '-w',
      // search_path: the tests' own clients read crm-worker's tables unqualified (as createTestDatabase's do).
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c search_path=${DEFAULT_SCHEMA},public`,
      'start',
    ]);
    await waitFor('private postgres to accept connections', () => canConnect(port));
  };
  /** immediate (default): a crash; fast: backends terminated, the WAL flushed to any standby first. */
  const stop = async (mode: 'immediate' | 'fast' = 'immediate') => {
    await runPg('pg_ctl', ['-D', path.join(dir, 'data'), '-m', mode, '-w', 'stop']);
  };
  /** `pg_ctl restart -m <mode>` (immediate: a crash and recovery; fast: backends terminated). */
  const restart = async (mode: 'immediate' | 'fast') => {
    await runPg('pg_ctl', ['-D', path.join(dir, 'data'), '-l', path.join(dir, 'log'), '-m', mode, '-w', 'restart']);
    await waitFor('private postgres to accept connections', () => canConnect(port));
  };
  await start();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    start,
    stop,
    restart,
    async destroy() {
      try {
        await stop();
      } catch {
        // already stopped
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A hot standby of a private PostgreSQL (pg_basebackup -R: streaming, never promoted): it answers
 * every read and refuses every write, as a failed-over-to-the-wrong-side database would.
 */
export async function startPrivateStandby(primary: { port: number }) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-pg-standby-'));
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
  await runPg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', path.join(dir, 'data'), '-R', '-X', 'stream']);
  await runPg('pg_ctl', [
    '-D',
    path.join(dir, 'data'),
    '-l',
    path.join(dir, 'log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c search_path=${DEFAULT_SCHEMA},public`,
    'start',
  ]);
  await waitFor('private standby to accept connections', () => canConnect(port));
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    /** `pg_ctl promote -w`: the standby leaves recovery and takes writes. */
    async promote() {
      await runPg('pg_ctl', ['-D', path.join(dir, 'data'), '-w', 'promote']);
    },
    async destroy() {
      try {
        await runPg('pg_ctl', ['-D', path.join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A private Redis Sentinel group on loopback, as Debian's redis-server and redis-sentinel run it:
 * one master, one replica, three sentinels (quorum 2), with passwords on the data nodes and on
 * the sentinels. A master down for a second is failed over (down-after-milliseconds 1000).
 */
export async function startPrivateRedisSentinels(options: { masterName?: string; password?: string; sentinelPassword?: string } = {}) {
  const masterName = options.masterName ?? 'crmw-master';
  const password = options.password ?? 'data-secret-1234';
  const sentinelPassword = options.sentinelPassword ?? 'sentinel-secret-1234';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-sentinel-'));
  const children: ChildProcess[] = [];
  const env = withoutFakeClock(process.env);
  const spawnRedis = (args: string[]) => {
    const child = spawn('redis-server', args, { stdio: 'ignore', env });
    children.push(child);
    return child;
  };
  const stopAll = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    return await setUp();
  } catch (err) {
    // A group that did not come up leaves nothing running behind it.
    await stopAll();
    throw err;
  }

  async function setUp() {
    const dataArgs = (port: number) => [
      ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      ...['--requirepass', password, '--masterauth', password],
    ];
    const masterPort = await freePort();
    const master = spawnRedis(dataArgs(masterPort));
    await waitFor('sentinel group master to accept connections', () => canConnect(masterPort));
    const replicaPort = await freePort();
    const replica = spawnRedis([...dataArgs(replicaPort), '--replicaof', '127.0.0.1', String(masterPort)]);
    await waitFor('sentinel group replica to accept connections', () => canConnect(replicaPort));

    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const file = path.join(dir, `sentinel-${i}.conf`);
      // Sentinel rewrites its own config file (the group it learns), so each gets a writable one.
      fs.writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `requirepass ${sentinelPassword}`,
          `sentinel sentinel-pass ${sentinelPassword}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
          `sentinel auth-pass ${masterName} ${password}`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 10000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const child = spawn('redis-sentinel', [file], { stdio: 'ignore', env });
      children.push(child);
      sentinelPorts.push(port);
      await waitFor('sentinel to accept connections', () => canConnect(port));
    }

    const withNode = async <T>(port: number, secret: string, fn: (c: RedisClientType) => Promise<T>): Promise<T> => {
      const client = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false }, password: secret });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return await fn(client);
      } finally {
        client.destroy();
      }
    };
    const sentinelMaster = (port: number) =>
      withNode(port, sentinelPassword, async (c) => {
        const flat = (await c.sendCommand(['SENTINEL', 'MASTER', masterName])) as string[];
        const fields = new Map<string, string>();
        for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
        return fields;
      });
    // The group is ready when every sentinel sees the master, the replica and the two other sentinels.
    await waitFor(
      'sentinels to discover the replica and each other',
      async () => {
        const views = await Promise.all(sentinelPorts.map(sentinelMaster));
        return views.every((v) => v.get('num-slaves') === '1' && v.get('num-other-sentinels') === '2' && v.get('flags') === 'master');
      },
      { limitMs: 60_000, everyMs: 200 },
    );

    return {
      masterName,
      password,
      sentinelPassword,
      masterPort,
      replicaPort,
      sentinelPorts,
      /** REDIS_SENTINELS for a worker. */
      sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
      /** The master's port as the sentinel answers `SENTINEL get-master-addr-by-name`. */
      async masterPortSeenBy(sentinelIndex: number): Promise<number | undefined> {
        const reply = (await withNode(sentinelPorts[sentinelIndex]!, sentinelPassword, (c) =>
          c.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName]),
        )) as string[] | null;
        return reply ? Number(reply[1]) : undefined;
      },
      /** A command on a data node (the master or the replica) by its port. */
      onNode: <T>(port: number, fn: (c: RedisClientType) => Promise<T>) => withNode(port, password, fn),
      /** SIGKILL of the original master: no shutdown, no last replication. */
      async killMaster() {
        const exited = new Promise((resolve) => master.once('exit', resolve));
        master.kill('SIGKILL');
        await exited;
      },
      replicaAlive: () => replica.exitCode === null && replica.signalCode === null,
      destroy: stopAll,
    };
  }
}
