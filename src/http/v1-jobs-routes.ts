import { Router } from 'express';
import type { JobRunPageRow } from '../scheduler/job-runs';
import type { HttpDeps } from './app';
import { jobNameParam, jobsQuery, runsQuery } from './jobs-api-spec';
import { cursorFor, pageFrom } from './pagination';
import { parseOrThrow, ProblemError } from './problem';

// Jobs by name (they are few, but no list is capped silently); runs by (fire time, id), newest first.
const jobsCursor = cursorFor('jobs', /^[\w.:-]{1,200}$/);
const runsCursor = cursorFor('job-runs', /^-?\d{1,20}$/);
const iso = (t: Date | null) => (t === null ? null : new Date(t).toISOString());

function runView(row: JobRunPageRow) {
  return {
    id: String(row.id),
    job: row.job,
    fireTime: iso(row.fire_time)!,
    trigger: row.trigger,
    instance: row.instance,
    runId: row.run_id,
    leaseEpoch: row.lease_epoch,
    startedAt: iso(row.started_at)!,
    finishedAt: iso(row.finished_at),
    outcome: row.outcome,
    items: Number(row.items),
    error: row.error,
  };
}

/**
 * GET /v1/jobs and GET /v1/jobs/:name/runs: what runs, when, and how it went, in the /v1
 * conventions (camelCase, cursor pages, problem details). The unversioned /api/jobs routes stay
 * for one release.
 */
export function v1JobsRoutes(deps: Pick<HttpDeps, 'scheduler' | 'lockKeyOf' | 'runsPageOf'>): Router {
  const router = Router();

  router.get('/v1/jobs', (req, res) => {
    const query = parseOrThrow(jobsQuery, req.query);
    const after = query.cursor === undefined ? undefined : jobsCursor.decode(query.cursor)[0]!;
    const states = deps.scheduler
      .jobs()
      .filter((s) => after === undefined || s.definition.name > after)
      .sort((a, b) => (a.definition.name < b.definition.name ? -1 : 1));
    const view = (state: (typeof states)[number]) => ({
      name: state.definition.name,
      description: state.definition.description,
      schedule: state.definition.schedule,
      lockKey: deps.lockKeyOf(state.definition.name),
      running: state.running,
      lastRunAt: state.lastRunAt?.toISOString() ?? null,
      lastOutcome: state.lastOutcome ?? null,
      nextRunAt: deps.scheduler.nextRun(state.definition.name)?.toISOString() ?? null,
    });
    res.json(pageFrom(states.slice(0, query.limit + 1), query.limit, view, (s) => [s.definition.name], jobsCursor));
  });

  router.get('/v1/jobs/:name/runs', async (req, res) => {
    const name = parseOrThrow(jobNameParam, req.params.name, 'name');
    const query = parseOrThrow(runsQuery, req.query);
    const key = query.cursor === undefined ? undefined : runsCursor.decode(query.cursor);
    if (!deps.scheduler.jobs().some((s) => s.definition.name === name)) throw new ProblemError('not-found', `unknown job "${name}"`);
    const before = key ? { fireKey: key[0]!, id: key[1] ?? '0' } : undefined;
    const rows = await deps.runsPageOf(name, { limit: query.limit + 1, ...(before ? { before } : {}) });
    res.json(pageFrom(rows, query.limit, runView, (r) => [r.fire_key, String(r.id)], runsCursor));
  });

  return router;
}
