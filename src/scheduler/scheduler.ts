import { CronTimer, type TimerClock } from './cron-timer';
import type { JobDefinition } from './job';
import { latestFireTimes, readDatabaseNow, type RunOutcome } from './job-runs';
import { countFireTimesBetween } from './missed-ticks';
import { runTick, type TickDeps, type TickResult, type TickTiming } from './run-tick';

export interface JobState {
  readonly definition: JobDefinition;
  running: boolean;
  lastRunAt: Date | undefined;
  lastOutcome: Exclude<RunOutcome, 'running' | 'abandoned'> | undefined;
  runsStarted: number;
  itemsProcessed: number;
}

/** How late the timer may fire a tick and still run it (past this, the tick is counted missed). */
export const DEFAULT_LATE_TOLERANCE_MS = 5_000;

/**
 * The cron runtime: CronTimer decides when (cron-parser fire times, safe across daylight-saving
 * changes), runTick decides whether (lease and fence) and records what happened. Overlap within this process is prevented here; across processes by
 * the lease and the fence.
 */
export class Scheduler {
  private readonly states = new Map<string, JobState>();
  private readonly timers = new Map<string, CronTimer>();
  private readonly inFlight = new Set<Promise<TickResult>>();
  private stopped = false;
  private readonly clock: TimerClock | undefined;
  private readonly lateToleranceMs: number;
  /** Set by start(): scheduled ticks keep to the database clock (see runTick). */
  private timing: TickTiming | undefined;

  constructor(
    private readonly deps: TickDeps,
    jobs: readonly JobDefinition[],
    private readonly timezone: string,
    options: {
      /** The wall clock and timers; tests inject a fake one. */
      clock?: TimerClock;
      /** MISSED_TICK_TOLERANCE_MS: a tick fired later than this is counted missed, not run. */
      lateToleranceMs?: number;
    } = {},
  ) {
    this.clock = options.clock;
    this.lateToleranceMs = options.lateToleranceMs ?? DEFAULT_LATE_TOLERANCE_MS;
    for (const definition of jobs) {
      if (this.states.has(definition.name)) throw new Error(`job ${definition.name} is defined twice`);
      this.states.set(definition.name, {
        definition,
        running: false,
        lastRunAt: undefined,
        lastOutcome: undefined,
        runsStarted: 0,
        itemsProcessed: 0,
      });
    }
  }

  /** Counts ticks that passed while no worker ran (reason "down"), then arms every schedule. */
  async start(): Promise<void> {
    await this.countTicksMissedWhileDown();
    // The catch-up of ticks left to the lease holder starts here: earlier ones were missed while down.
    let startedAt = new Date(this.clock?.now() ?? Date.now());
    try {
      startedAt = (await readDatabaseNow(this.deps.db)).databaseNow;
    } catch (err) {
      this.deps.logger.warn('could not read the database clock; the catch-up starts from this clock', { error: (err as Error).message });
    }
    this.timing = { toleranceMs: this.lateToleranceMs, timezone: this.timezone, notBefore: startedAt };
    for (const state of this.states.values()) {
      const job = state.definition;
      const timer = new CronTimer(
        job.schedule,
        this.timezone,
        {
          fire: (fireTime) => void this.fire(job.name, fireTime, 'schedule'),
          missed: (firstFireTime, count) => {
            this.deps.metrics.missedTicks.inc({ job: job.name, reason: 'blocked' }, count);
            this.deps.logger.warn('tick missed: the process was blocked past its fire time', {
              job: job.name,
              fireTime: firstFireTime.toISOString(),
              missed: count,
            });
          },
        },
        { lateToleranceMs: this.lateToleranceMs, ...(this.clock ? { clock: this.clock } : {}) },
      );
      this.timers.set(job.name, timer);
      timer.start();
    }
    this.deps.logger.info('scheduler started', {
      jobs: [...this.states.values()].map((s) => ({ job: s.definition.name, schedule: s.definition.schedule })),
      timezone: this.timezone,
    });
  }

  /** Runs one tick now (operator CLI, tests): same lease, fence and history as a scheduled tick. */
  runNow(jobName: string, fireTime = new Date()): Promise<TickResult> {
    if (!this.states.has(jobName)) throw new Error(`unknown job ${jobName}`);
    return this.fire(jobName, fireTime, 'manual');
  }

  jobs(): JobState[] {
    return [...this.states.values()];
  }

  nextRun(jobName: string): Date | null {
    return this.timers.get(jobName)?.nextRun() ?? null;
  }

  isRunning(): boolean {
    return this.inFlight.size > 0;
  }

  /** Fires no new ticks; resolves when running ticks finish or the deadline passes. */
  async stop(deadlineMs: number): Promise<boolean> {
    this.stopped = true;
    for (const timer of this.timers.values()) timer.stop();
    if (this.inFlight.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), deadlineMs)));
    const drained = Promise.allSettled([...this.inFlight]).then(() => true as const);
    const finished = await Promise.race([drained, timeout]);
    clearTimeout(timer);
    return finished;
  }

  /** After an abort, waits (bounded) for aborted handlers to record their outcome and release. */
  async settle(deadlineMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((resolve) => (timer = setTimeout(resolve, deadlineMs)))]);
    clearTimeout(timer);
  }

  private fire(jobName: string, fireTime: Date, trigger: 'schedule' | 'manual'): Promise<TickResult> {
    const state = this.states.get(jobName)!;
    if (this.stopped) return Promise.resolve({ ran: false, reason: 'shutting-down' });
    if (state.running) {
      this.deps.metrics.ticksSkipped.inc({ job: jobName, reason: 'overlap' });
      this.deps.logger.warn('tick skipped: the previous tick is still running in this process', {
        job: jobName,
        fireTime: fireTime.toISOString(),
      });
      return Promise.resolve({ ran: false, reason: 'overlap' });
    }
    state.running = true;
    const tick = runTick(this.deps, state.definition, fireTime, trigger, trigger === 'schedule' ? this.timing : undefined)
      .catch((err): TickResult => {
        // runTick handles its own failures; anything reaching here is a bug worth a loud line.
        this.deps.logger.error('tick crashed', { job: jobName, error: (err as Error).stack ?? String(err) });
        return { ran: false, reason: 'fence-unavailable', error: String(err) };
      })
      .then((result) => {
        if (result.ran) {
          state.lastRunAt = fireTime;
          state.lastOutcome = result.outcome;
          state.runsStarted++;
          state.itemsProcessed += result.items;
        }
        return result;
      })
      .finally(() => {
        state.running = false;
        this.inFlight.delete(tick);
      });
    this.inFlight.add(tick);
    return tick;
  }

  private async countTicksMissedWhileDown(): Promise<void> {
    let latest: Map<string, Date>;
    try {
      latest = await latestFireTimes(this.deps.db);
    } catch (err) {
      this.deps.logger.warn('could not read job history to count missed ticks', { error: (err as Error).message });
      return;
    }
    const until = new Date((this.clock?.now() ?? Date.now()) - this.lateToleranceMs);
    for (const state of this.states.values()) {
      const since = latest.get(state.definition.name);
      if (!since || since >= until) continue;
      const missed = countFireTimesBetween(state.definition.schedule, this.timezone, since, until);
      if (missed === 0) continue;
      this.deps.metrics.missedTicks.inc({ job: state.definition.name, reason: 'down' }, missed);
      // Catch-up rule: missed ticks are not replayed. Jobs are level-triggered (each tick
      // handles everything due up to now), so the next tick does the work of the missed ones.
      this.deps.logger.warn('ticks missed while no worker ran this job; they are not replayed', {
        job: state.definition.name,
        missed,
        lastFireTime: since.toISOString(),
      });
    }
  }
}
