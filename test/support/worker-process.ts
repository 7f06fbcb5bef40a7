import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { WORKER_NODE_FLAGS } from './node-flags';
import { GiveUp, waitFor } from './wait';

export { WORKER_NODE_FLAGS };

export const REPO_ROOT = path.join(__dirname, '..', '..');
export const WORKER_MAIN = path.join(REPO_ROOT, 'dist', 'main.js');

export type LogLine = Record<string, unknown> & { message?: string; level?: string };

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly logs: LogLine[];
  readonly stderr: string[];
  port(): number;
  waitForLog(what: string, predicate: (line: LogLine) => boolean, limitMs?: number): Promise<LogLine>;
  waitForExit(limitMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  get(pathname: string, headers?: Record<string, string>): Promise<{ status: number; body: string; json(): any }>;
}

/**
 * Starts a real worker process (the built dist/main.js, or a fixture script) with its own
 * environment. Logs are JSON lines; they are kept for assertions.
 */
export function spawnWorker(
  name: string,
  env: Record<string, string | undefined>,
  options: { script?: string; args?: string[]; command?: string; cwd?: string; wrap?: string[] } = {},
): WorkerProcess {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // A worker must see only the services its test gives it.
    if (v !== undefined && !/^(DATABASE_URL|REDIS_URL|QDRANT_URL|OPENAI_API_KEY|API_KEY|PORT)$/.test(k)) base[k] = v;
  }
  const merged: Record<string, string> = { ...base, LOG_LEVEL: 'debug', PORT: '0', INSTANCE_ID: name };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  const command = options.command ?? process.execPath;
  // BENCH_CPU_PROFILE_DIR: the worker writes a V8 CPU profile there when it exits (benches stop it with SIGTERM then).
  const profile = process.env.BENCH_CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE_DIR}`] : [];
  const args = options.command ? (options.args ?? []) : [...profile, options.script ?? WORKER_MAIN, ...(options.args ?? [])];
  const [exe, ...exeArgs] = options.wrap ? [...options.wrap, command, ...args] : [command, ...args];
  // Its own process group, so a signal reaches the worker also when it runs under npm or a wrapper.
  const child = spawn(exe!, exeArgs, {
    env: merged,
    cwd: options.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ message: line, raw: true });
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  // 'exit' can come before the last of stdout has been read; a test that checks the logs right
  // after waitForExit needs them all, so the exit counts once the pipes have closed too (or a
  // moment later, should a grandchild hold them open).
  const streamsClosed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      const info = { code, signal };
      const grace = setTimeout(() => resolve(info), 5_000);
      void streamsClosed.then(() => {
        clearTimeout(grace);
        resolve(info);
      });
    }),
  );
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((info) => (exitInfo = info));

  const port = () => {
    const line = logs.find((l) => l.message === 'http listening');
    if (!line) throw new Error(`${name} has not logged its port yet`);
    return Number(line.port);
  };

  return {
    child,
    name,
    logs,
    stderr,
    port,
    async waitForLog(what, predicate, limitMs = 60_000) {
      try {
        return await waitFor(
          `${name}: ${what}`,
          () => {
            if (exitInfo && !logs.some(predicate)) {
              // exitInfo is set once stdout has closed (or 5 s after the exit, above): the line cannot come.
              throw new GiveUp(`${name} exited (${JSON.stringify(exitInfo)}); stderr: ${stderr.join('').slice(-2000)}`);
            }
            return logs.find(predicate);
          },
          { limitMs },
        );
      } catch (err) {
        // What the process said last is what tells a slow start from a stuck one.
        const said = logs.slice(-5).map((l) => l.message);
        throw new Error(`${(err as Error).message}; its last log lines: ${JSON.stringify(said)}; stderr: ${stderr.join('').slice(-1000)}`);
      }
    },
    async waitForExit(limitMs = 60_000) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name} did not exit`)), limitMs);
      });
      try {
        return await Promise.race([exited, limit]);
      } finally {
        clearTimeout(timer);
      }
    },
    kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, signal);
      } catch {
        child.kill(signal);
      }
    },
    async get(pathname, headers = {}) {
      const response = await fetch(`http://127.0.0.1:${port()}${pathname}`, { headers });
      const body = await response.text();
      return { status: response.status, body, json: () => JSON.parse(body) };
    },
  };
}

/** Started and listening: the worker logged "crm-worker started". */
export function waitUntilStarted(worker: WorkerProcess, limitMs = 60_000): Promise<LogLine> {
  return worker.waitForLog('startup', (l) => l.message === 'crm-worker started', limitMs);
}

/** Kills whatever is still running at the end of a test. */
export async function killAll(workers: WorkerProcess[]): Promise<void> {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.waitForExit(10_000).catch(() => undefined)));
}
