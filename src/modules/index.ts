import { callsModule } from '../calls/module';
import { deliveryModule } from '../delivery/module';
import { buildJobs } from '../jobs';
import { knowledgeModule } from '../knowledge/module';
import type { ModuleFactory } from './worker-module';
import { crmModule } from '../crm/module';

/** The core jobs of the worker (trial expiration, call cleanup). */
const coreJobs: ModuleFactory = ({ config }) => ({ name: 'core-jobs', jobs: () => buildJobs(config) });

/**
 * Every module of this build, in start order (stopped in reverse). Adding a capability means
 * one line here; main.ts does not change.
 */
export const moduleFactories: readonly ModuleFactory[] = [coreJobs, deliveryModule, knowledgeModule, callsModule, crmModule];
