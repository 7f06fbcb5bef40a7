import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

/** What a consumer process hands back to the bench: lags (lag runs) or first/last handler starts. */
export interface RecorderReport {
  handled: number;
  expected: number;
  /** Handler start − due time, ms, one per message (lag runs only). */
  lags: number[];
  firstStart: number | null;
  lastStart: number | null;
  cappedAfterMs: number | null;
  /** CPU time (user + system) the consumer process used in total, ms. */
  cpuMs?: number;
}

/** Wall-clock epoch ms with sub-ms resolution, comparable across processes on one machine. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Counts handler starts in a consumer process and writes one JSON report when `expected`
 * messages were handled or `capMs` passed (a slow peer setting must not stall the whole bench).
 */
export class Recorder {
  private readonly report: RecorderReport;
  private finished = false;
  private readonly done: Promise<RecorderReport>;
  private resolve!: (r: RecorderReport) => void;
  private cap: NodeJS.Timeout | undefined;
  private readonly startedAt = preciseNow();

  constructor(
    expected: number,
    private readonly keepLags: boolean,
    private readonly outFile: string,
    private readonly capMs: number,
  ) {
    this.report = { handled: 0, expected, lags: [], firstStart: null, lastStart: null, cappedAfterMs: null };
    this.done = new Promise((r) => (this.resolve = r));
  }

  /** Arms the cap; call once the consumer is ready. */
  arm(): void {
    this.cap = setTimeout(() => {
      this.report.cappedAfterMs = Math.round(preciseNow() - this.startedAt);
      this.finish();
    }, this.capMs);
  }

  record(dueMs: number): void {
    const now = preciseNow();
    if (this.finished) return;
    const r = this.report;
    r.handled++;
    if (this.keepLags) r.lags.push(now - dueMs);
    r.firstStart ??= now;
    r.lastStart = now;
    if (r.handled >= r.expected) this.finish();
  }

  finished$(): Promise<RecorderReport> {
    return this.done;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.cap);
    const cpu = process.cpuUsage();
    this.report.cpuMs = (cpu.user + cpu.system) / 1000;
    fs.writeFileSync(this.outFile, JSON.stringify(this.report));
    this.resolve(this.report);
  }
}

/** The argument a consumer process gets: one JSON object. */
export interface ConsumerArgs {
  settings: 'defaults' | 'best';
  scenario: 'lag' | 'burst';
  expected: number;
  capMs: number;
  outFile: string;
  redisUrl?: string;
  databaseUrl?: string;
  queue: string;
}
