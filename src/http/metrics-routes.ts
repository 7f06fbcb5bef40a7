import { Router } from 'express';
import { RenderedCache } from '../metrics/rendered-cache';
import type { HttpDeps } from './app';

/** How long a rendered exposition is served again, and how long a refresh may hold a caller. */
export const METRICS_CACHE = { ttlMs: 1_000, waitForFreshMs: 250 };

/**
 * GET /metrics: the design's JSON by default; Prometheus text or OpenMetrics when the scraper
 * asks for it in Accept (Prometheus sends both, preferring OpenMetrics).
 */
export function metricsRoutes(deps: HttpDeps): Router {
  const router = Router();
  const prometheusText = new RenderedCache(() => deps.metrics.registry.metrics(), METRICS_CACHE);
  const openMetricsText = new RenderedCache(() => deps.metrics.renderOpenMetrics(), METRICS_CACHE);
  router.get('/metrics', async (req, res) => {
    const accept = req.get('accept') ?? '';
    if (accept.includes('application/openmetrics-text')) {
      res.type(deps.metrics.openMetricsContentType).send(await openMetricsText.get());
      return;
    }
    if (accept.includes('text/plain')) {
      res.type(deps.metrics.registry.contentType).send(await prometheusText.get());
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
