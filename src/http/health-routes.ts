import { Router } from 'express';
import type { HttpDeps } from './app';

/** /health in the design's shape, plus /health/live and /health/ready for orchestrators. */
export function healthRoutes(deps: HttpDeps): Router {
  const router = Router();

  router.get('/health', (_req, res) => {
    const healthy = deps.health.healthy();
    const jobs: Record<string, boolean> = {};
    for (const job of deps.scheduler.jobs()) jobs[job.definition.healthKey] = job.running;
    res.status(healthy ? 200 : 503).json({
      status: healthy ? 'ok' : 'error',
      timestamp: new Date().toISOString(),
      uptime: Math.floor((Date.now() - deps.startedAt) / 1000),
      instance: deps.instanceId,
      services: deps.health.services(),
      ...(healthy ? {} : { problems: deps.health.problems() }),
      jobs,
      modes: deps.modes,
    });
  });

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/health/ready', (_req, res) => {
    const shuttingDown = deps.lifecycle.isShuttingDown();
    const ready = deps.lifecycle.isStarted() && !shuttingDown && deps.health.healthy();
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : shuttingDown ? 'shutting-down' : 'not-ready',
      ...(ready ? {} : { problems: deps.health.problems() }),
    });
  });

  return router;
}
