import express, { type ErrorRequestHandler } from 'express';
import type { HealthMonitor } from '../health/health-monitor';
import type { Logger } from '../logging/logger';
import type { Metrics } from '../metrics/metrics';
import type { JobRunRow } from '../scheduler/job-runs';
import type { JobState } from '../scheduler/scheduler';
import { requireApiKey } from './api-key';
import { healthRoutes } from './health-routes';
import { jobsRoutes } from './jobs-routes';
import { metricsRoutes } from './metrics-routes';
import { refuseUnsafeInput } from './request-guard';

/** What the HTTP layer may see: probes, job state and metrics — never SQL or clients. */
export interface HttpDeps {
  instanceId: string;
  startedAt: number;
  modes: Record<string, string>;
  health: HealthMonitor;
  scheduler: { jobs(): JobState[]; nextRun(name: string): Date | null };
  runsOf(job: string, limit: number): Promise<JobRunRow[]>;
  lockKeyOf(job: string): string;
  metrics: Metrics;
  lifecycle: { isStarted(): boolean; isShuttingDown(): boolean };
  apiKey: string | undefined;
  logger: Logger;
  /** Extra /api routers contributed by later modules (delivery, campaigns, ...). */
  apiRouters?: express.Router[];
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRoutes(deps));
  app.use(metricsRoutes(deps));

  const api = express.Router();
  api.use(requireApiKey(deps.apiKey));
  api.use(express.json({ limit: '1mb' }));
  api.use(refuseUnsafeInput());
  api.use(jobsRoutes(deps));
  for (const router of deps.apiRouters ?? []) api.use(router);
  app.use('/api', api);

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    const status = typeof err?.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) deps.logger.error('http handler failed', { error: err?.stack ?? String(err) });
    res.status(status).json({ error: status === 500 ? 'internal error' : err.message });
  };
  app.use(onError);
  return app;
}
