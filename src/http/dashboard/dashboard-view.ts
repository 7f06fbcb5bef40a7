import type { ServiceHealth, ServiceStatus } from '../../health/health-monitor';
import type { LockInfo } from '../../locks/lease';
import type { JobRunRow } from '../../scheduler/job-runs';
import type { DashboardCampaign, DashboardMessage, DashboardSources, OutboxOverview } from './dashboard-sources';

/** A panel's data, or why it could not be read (the other panels are shown all the same). */
export type Panel<T> = { ok: true; value: T } | { ok: false; error: string } | { ok: 'absent' };

export interface JobPanelRow {
  name: string;
  description: string | undefined;
  schedule: string;
  running: boolean;
  nextRunAt: string | null;
  lockKey: string;
  holder: LockInfo | undefined;
  runs: JobRunRow[];
}

export interface DashboardView {
  generatedAt: string;
  instanceId: string;
  outbox: Panel<OutboxOverview>;
  dead: Panel<DashboardMessage[]>;
  unknown: Panel<DashboardMessage[]>;
  campaigns: Panel<DashboardCampaign[]>;
  jobs: Panel<JobPanelRow[]>;
  /** False on a replica with JOBS_ENABLED=false: it schedules nothing, so it has no job list. */
  jobsScheduled: boolean;
  locks: Panel<LockInfo[]>;
  health: Array<{ service: string; status: ServiceStatus; detail: ServiceHealth | undefined }>;
}

/** What the view is read from: the HTTP layer's own dependencies and the modules' sources. */
export interface DashboardReadDeps {
  instanceId: string;
  sources: DashboardSources;
  scheduler: { jobs(): Array<{ definition: { name: string; description?: string; schedule: string }; running: boolean }>; nextRun(name: string): Date | null };
  runsOf(job: string, limit: number): Promise<JobRunRow[]>;
  lockKeyOf(job: string): string;
  locks: (() => Promise<LockInfo[]>) | undefined;
  health: { services(): Record<string, ServiceStatus>; details(): Record<string, ServiceHealth> };
}

/** How many rows each list shows: an operator's screen, not an export (the API pages through all). */
export const LIST_LIMIT = 50;
const RUNS_PER_JOB = 3;

async function panel<T>(read: (() => Promise<T>) | undefined): Promise<Panel<T>> {
  if (!read) return { ok: 'absent' };
  try {
    return { ok: true, value: await read() };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Reads every panel at once; one that fails (Redis away, database down) says so and the rest show. */
export async function readDashboard(deps: DashboardReadDeps): Promise<DashboardView> {
  const { messages, campaigns } = deps.sources;
  const locks = panel(deps.locks);
  const states = deps.scheduler.jobs();
  const [outbox, dead, unknown, campaignList, lockList, runs] = await Promise.all([
    panel(messages && (() => messages.overview())),
    panel(messages && (() => messages.list('dead', LIST_LIMIT))),
    panel(messages && (() => messages.list('unknown', LIST_LIMIT))),
    panel(campaigns && (() => campaigns.list(LIST_LIMIT))),
    locks,
    // One job after the other: a page view holds at most one API-pool connection for the runs.
    panel(async () => {
      const runs = [];
      for (const state of states) runs.push(await deps.runsOf(state.definition.name, RUNS_PER_JOB));
      return runs;
    }),
  ]);
  const held = lockList.ok === true ? lockList.value : [];
  const jobs: Panel<JobPanelRow[]> =
    runs.ok === true
      ? {
          ok: true,
          value: states
            .map((state, i) => {
              const name = state.definition.name;
              const lockKey = deps.lockKeyOf(name);
              return {
                name,
                description: state.definition.description,
                schedule: state.definition.schedule,
                running: state.running,
                nextRunAt: deps.scheduler.nextRun(name)?.toISOString() ?? null,
                lockKey,
                holder: held.find((l) => l.key === lockKey),
                runs: runs.value[i]!,
              };
            })
            .sort((a, b) => (a.name < b.name ? -1 : 1)),
        }
      : runs;
  const details = deps.health.details();
  const health = Object.entries(deps.health.services())
    .map(([service, status]) => ({ service, status, detail: details[service] }))
    .sort((a, b) => (a.service < b.service ? -1 : 1));
  return {
    generatedAt: new Date().toISOString(),
    instanceId: deps.instanceId,
    outbox,
    dead,
    unknown,
    campaigns: campaignList,
    jobs,
    jobsScheduled: states.length > 0,
    locks: lockList,
    health,
  };
}
