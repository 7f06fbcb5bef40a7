import { Router } from 'express';
import type { HttpDeps } from './app';

/** GET /api/jobs and GET /api/jobs/:name/runs: what runs, when, and how it went. */
export function jobsRoutes(deps: HttpDeps): Router {
  const router = Router();

  router.get('/jobs', (_req, res) => {
    res.json({
      jobs: deps.scheduler.jobs().map((state) => ({
        name: state.definition.name,
        description: state.definition.description,
        schedule: state.definition.schedule,
        lockKey: deps.lockKeyOf(state.definition.name),
        running: state.running,
        lastRun: state.lastRunAt?.toISOString() ?? null,
        lastOutcome: state.lastOutcome ?? null,
        nextRun: deps.scheduler.nextRun(state.definition.name)?.toISOString() ?? null,
      })),
    });
  });

  router.get('/jobs/:name/runs', async (req, res) => {
    const name = req.params.name;
    // An unknown query field is refused, not ignored, as on every other route.
    const unknown = Object.keys(req.query).filter((key) => key !== 'limit');
    if (unknown.length > 0) {
      res.status(400).json({ error: `${unknown.join(', ')}: unknown field(s); only limit is read` });
      return;
    }
    if (!deps.scheduler.jobs().some((s) => s.definition.name === name)) {
      res.status(404).json({ error: `unknown job "${name}"` });
      return;
    }
    const rawLimit = req.query.limit;
    const limit = rawLimit === undefined ? 50 : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      res.status(400).json({ error: 'limit: must be a whole number from 1 to 1000' });
      return;
    }
    const runs = await deps.runsOf(name, limit);
    res.json({ job: name, runs });
  });

  return router;
}
