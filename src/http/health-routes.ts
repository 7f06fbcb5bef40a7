import { Router, type Request } from 'express';
import { apiKeyChecker } from './api-key';
import type { HttpDeps } from './app';

/**
 * /health in the design's shape, plus /health/live and /health/ready for orchestrators.
 * They answer everyone (load balancers send no key), so what they show an anonymous caller is
 * only service states: the instance id (host name by default) and the probes' error texts (which
 * name internal hosts and ports) are shown only to a caller that sends the API key.
 */
export function healthRoutes(deps: HttpDeps): Router {
  const router = Router();
  const hasApiKey = apiKeyChecker(deps.apiKey);
  const problems = (req: Request) => (hasApiKey(req) ? deps.health.problems() : deps.health.problemServices());

  router.get('/health', (req, res) => {
    const detailed = hasApiKey(req);
    const healthy = deps.health.healthy();
    const jobs: Record<string, boolean> = {};
    for (const job of deps.scheduler.jobs()) jobs[job.definition.healthKey] = job.running;
    res.status(healthy ? 200 : 503).json({
      status: healthy ? 'ok' : 'error',
      timestamp: new Date().toISOString(),
      uptime: Math.floor((Date.now() - deps.startedAt) / 1000),
      ...(detailed ? { instance: deps.instanceId } : {}),
      services: deps.health.services(),
      ...(healthy ? {} : { problems: problems(req) }),
      jobs,
      modes: deps.modes,
    });
  });

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/health/ready', (req, res) => {
    const shuttingDown = deps.lifecycle.isShuttingDown();
    const ready = deps.lifecycle.isStarted() && !shuttingDown && deps.health.healthy();
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : shuttingDown ? 'shutting-down' : 'not-ready',
      ...(ready ? {} : { problems: problems(req) }),
    });
  });

  return router;
}
