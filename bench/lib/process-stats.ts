import fs from 'node:fs';
import os from 'node:os';

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** Resident set size of a process in bytes, or 0 once it has exited. */
export function rssBytes(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status);
    return kb ? Number(kb[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples the summed RSS of some processes every few ms and keeps the peak. */
export function peakRssSampler(pids: () => number[], everyMs = 50) {
  let peak = 0;
  const sample = () => {
    const total = pids().reduce((sum, pid) => sum + rssBytes(pid), 0);
    if (total > peak) peak = total;
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop(): number {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/** How busy the machine was when a bench started: other work skews every figure. */
export function loadLine(): string {
  const [one, five, fifteen] = os.loadavg().map((n) => n.toFixed(2));
  return `- load average at start (1/5/15 min): ${one} / ${five} / ${fifteen} on ${os.cpus().length} cores`;
}
