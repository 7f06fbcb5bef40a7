import type { JobDefinition } from '../scheduler/job';
import { moduleFactories } from './index';
import type { ModuleContext } from './worker-module';

/**
 * The jobs the worker would schedule, built from the same module list as main.ts, for tools
 * that run one job outside the scheduler (the operator CLI). Modules are built, not started:
 * nothing here starts a dispatcher loop or a server.
 */
export async function buildModuleJobs(ctx: ModuleContext): Promise<JobDefinition[]> {
  const jobs: JobDefinition[] = [];
  for (const factory of moduleFactories) {
    const module = await factory(ctx);
    jobs.push(...(module.jobs?.() ?? []));
  }
  return jobs;
}
