import os from 'node:os';

/**
 * Rounds in alternating order: round 1 runs the configurations first to last, round 2 last to
 * first, and so on, so no configuration always runs first on a cold machine or last on a hot one.
 */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...items] : [...items].reverse();
}

/** The median of what was measured; NaN when nothing was. */
export function median(values: readonly number[]): number {
  const v = values.filter((n) => !Number.isNaN(n)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** The one-minute load average now, as a row's start condition. */
export function loadNow(): number {
  return os.loadavg()[0]!;
}

/** Positive integer from the environment, else the default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer (got "${raw}")`);
  return n;
}
