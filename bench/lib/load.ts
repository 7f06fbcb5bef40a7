import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { percentile } from './machine';

const AUTOCANNON_CLI = path.join(__dirname, '..', '..', 'node_modules', 'autocannon', 'autocannon.js');

export interface LoadResult {
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * Drives one URL at a fixed overall rate with the autocannon CLI in its own process, so the
 * load generator's CPU is not counted against the server's latency (an in-process autocannon
 * shares the bench's event loop and made earlier figures look worse than the worker is).
 */
export function runLoad(url: string, options: { rate: number; seconds: number; connections?: number; headers?: Record<string, string> }): Promise<LoadResult> {
  const args = [
    AUTOCANNON_CLI,
    '--json',
    '--connections',
    String(options.connections ?? 50),
    '--overallRate',
    String(options.rate),
    '--duration',
    String(options.seconds),
  ];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('--headers', `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`autocannon failed: ${err.message}\n${stderr}`));
        return;
      }
      const r = JSON.parse(stdout) as {
        requests: { total: number };
        non2xx: number;
        errors: number;
        timeouts: number;
        latency: { p50: number; p90: number; p99: number; max: number };
      };
      resolve({
        requests: r.requests.total,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        p50: r.latency.p50,
        p90: r.latency.p90,
        p99: r.latency.p99,
        max: r.latency.max,
      });
    });
  });
}

export function heyInstalled(): boolean {
  try {
    execFileSync('hey', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // hey prints its usage and exits 2 on -h; only a missing binary is ENOENT.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * Drives one URL at a paced rate with hey (Debian package `hey`) in its own process: `workers`
 * senders, each sending one request every workers/rate seconds, so requests are spread over
 * each second. autocannon's --overallRate instead lets every connection fire its share
 * back-to-back at the start of each second (a 500-request burst once a second), which
 * measures queueing behind the burst rather than the endpoint. Per-request times come from
 * hey's CSV output, with 0.1 ms resolution.
 */
export function runHey(url: string, options: { rate: number; seconds: number; workers?: number; headers?: Record<string, string> }): Promise<LoadResult> {
  const workers = options.workers ?? 10;
  const args = ['-z', `${options.seconds}s`, '-c', String(workers), '-q', String(options.rate / workers), '-o', 'csv'];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile('hey', args, { maxBuffer: 256 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`hey failed: ${err.message}\n${stderr}`));
        return;
      }
      const lines = stdout.trim().split('\n').slice(1);
      const latencies: number[] = [];
      let non2xx = 0;
      let errors = 0;
      for (const line of lines) {
        const cols = line.split(',');
        const status = Number(cols[6]);
        if (!Number.isFinite(status) || status === 0) errors++;
        else if (status < 200 || status >= 300) non2xx++;
        latencies.push(Number(cols[0]) * 1000);
      }
      latencies.sort((a, b) => a - b);
      resolve({
        requests: lines.length,
        non2xx,
        errors,
        timeouts: 0,
        p50: percentile(latencies, 50),
        p90: percentile(latencies, 90),
        p99: percentile(latencies, 99),
        max: latencies[latencies.length - 1] ?? NaN,
      });
    });
  });
}
