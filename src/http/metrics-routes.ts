import { Router } from 'express';
import type { HttpDeps } from './app';

/**
 * GET /metrics: the design's JSON by default; Prometheus text or OpenMetrics when the scraper
 * asks for it in Accept (Prometheus sends both, preferring OpenMetrics).
 */
export function metricsRoutes(deps: HttpDeps): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    const accept = req.get('accept') ?? '';
    if (accept.includes('application/openmetrics-text')) {
      res.type(deps.metrics.openMetrics.contentType).send(await deps.metrics.openMetrics.metrics());
      return;
    }
    if (accept.includes('text/plain')) {
      res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
      return;
    }
    const jobsProcessed: Record<string, number> = {};
    const lastRun: Record<string, string | null> = {};
    for (const job of deps.scheduler.jobs()) {
      jobsProcessed[job.definition.healthKey] = job.itemsProcessed;
      lastRun[job.definition.healthKey] = job.lastRunAt?.toISOString() ?? null;
    }
    res.json({ jobsProcessed, lastRun, uptime: Math.floor((Date.now() - deps.startedAt) / 1000) });
  });
  return router;
}
