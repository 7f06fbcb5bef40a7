import { callsModule } from './calls/module';
import { crmModule } from './crm/module';
import { deliveryModule } from './delivery/module';
import { coreJobsModule } from './jobs/module';
import { knowledgeModule } from './knowledge/module';
import type { ModuleContext, ModuleFactory, WorkerModule } from './modules/worker-module';
import type { JobDefinition } from './scheduler/job';

/**
 * Every module of this build, in start order (stopped in reverse). Adding a capability means
 * one line here; worker.ts does not change. This list sits beside worker.ts, not in src/modules/:
 * it imports every module, and every module imports the interface from src/modules/.
 */
export const moduleFactories: readonly ModuleFactory[] = [coreJobsModule, deliveryModule, knowledgeModule, callsModule, crmModule];

/** Builds every module over the shared clients, in start order. Nothing is started. */
export async function buildWorkerModules(ctx: ModuleContext): Promise<WorkerModule[]> {
  const modules: WorkerModule[] = [];
  for (const factory of moduleFactories) modules.push(await factory(ctx));
  return modules;
}

/**
 * The jobs the worker would schedule, built from the same module list as worker.ts, for tools
 * that run one job outside the scheduler (the operator CLI). Modules are built, not started:
 * nothing here starts a dispatcher loop or a server.
 */
export async function buildModuleJobs(ctx: ModuleContext): Promise<JobDefinition[]> {
  const modules = await buildWorkerModules(ctx);
  return modules.flatMap((module) => module.jobs?.() ?? []);
}
