import { buildModuleJobs } from '../worker-modules';
import type { ModuleContext } from '../modules/worker-module';
import { runTick } from '../scheduler/run-tick';
import { CliError, type CliIo } from './cli-io';

/**
 * `crm-worker run <job>`: one tick now, through the scheduler's own runTick: the same lease
 * (lock:<job>), the same fence row in job_runs (trigger "manual"), the same fenced database and
 * history as a scheduled tick, so it can never run beside a worker's run of that job.
 */
export async function runJobOnce(ctx: ModuleContext, jobName: string, fireTime: Date, io: CliIo): Promise<number> {
  const jobs = await buildModuleJobs(ctx);
  const job = jobs.find((j) => j.name === jobName);
  if (!job) {
    const names = jobs.map((j) => j.name).join(', ') || 'none';
    throw new CliError(`unknown or disabled job "${jobName}"; jobs of this configuration: ${names}`, 2);
  }
  const result = await runTick(
    {
      db: ctx.db,
      locks: ctx.locks,
      metrics: ctx.metrics,
      logger: ctx.logger,
      instanceId: ctx.config.instanceId,
      lockTtlMs: ctx.config.scheduler.lockTtlMs,
      shutdownSignal: ctx.shutdownSignal,
    },
    job,
    fireTime,
    'manual',
  );
  if (!result.ran) {
    const held = result.reason === 'contended' ? ` (lock:${jobName} is held; see crm-worker locks)` : '';
    io.out(`${jobName}: not run: ${result.reason}${held}${result.error ? `: ${result.error}` : ''}`);
    return 3;
  }
  io.out(
    `${jobName}: ${result.outcome}, ${result.items} items (run ${result.runId}, fire time ${fireTime.toISOString()})${result.error ? `: ${result.error}` : ''}`,
  );
  return result.outcome === 'succeeded' ? 0 : 1;
}
