import os from 'node:os';
import { execFileSync } from 'node:child_process';

/** The machine a bench ran on, written at the top of every results file. */
export function machineDescription(): string {
  const cpus = os.cpus();
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0]!.trim();
    } catch {
      return 'n/a';
    }
  };
  return [
    `- date: ${new Date().toISOString()}`,
    `- os: ${os.type()} ${os.release()} (${os.arch()})`,
    `- cpu: ${cpus.length} × ${cpus[0]?.model ?? 'unknown'}`,
    `- memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- node: ${process.version}`,
    `- postgres: ${version('psql', ['--version'])}`,
    `- redis: ${version('redis-server', ['--version'])}`,
  ].join('\n');
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}
