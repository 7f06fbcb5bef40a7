import express, { type ErrorRequestHandler } from 'express';
import { isDatabaseUnavailable } from '../db/connection-errors';
import type { HealthMonitor } from '../health/health-monitor';
import type { Logger } from '../logging/logger';
import type { Metrics } from '../metrics/metrics';
import type { JobRunPageRow, JobRunRow } from '../scheduler/job-runs';
import type { JobState } from '../scheduler/scheduler';
import type { LockInfo } from '../locks/lease';
import { requireApiKey } from './api-key';
import { dashboardRoutes } from './dashboard/dashboard-routes';
import type { DashboardSources } from './dashboard/dashboard-sources';
import { healthRoutes } from './health-routes';
import { API_VERSION, buildOpenApiDocument } from './openapi/openapi-document';
import type { RouteSpec } from './openapi/route-spec';
import { jobsApiSpec } from './jobs-api-spec';
import { jobsRoutes } from './jobs-routes';
import { limitInFlight, SHED_RETRY_AFTER_SECONDS } from './load-shedding';
import { metricsRoutes } from './metrics-routes';
import { problemErrorHandler } from './problem';
import { refuseUnsafeInput } from './request-guard';
import { v1JobsRoutes } from './v1-jobs-routes';

/** What the HTTP layer may see: probes, job state and metrics — never SQL or clients. */
export interface HttpDeps {
  instanceId: string;
  startedAt: number;
  modes: Record<string, string>;
  health: HealthMonitor;
  scheduler: { jobs(): JobState[]; nextRun(name: string): Date | null };
  runsOf(job: string, limit: number): Promise<JobRunRow[]>;
  /** One keyset page of a job's runs, newest first (GET /api/v1/jobs/:name/runs). */
  runsPageOf(job: string, page: { limit: number; before?: { fireKey: string; id: string } }): Promise<JobRunPageRow[]>;
  lockKeyOf(job: string): string;
  metrics: Metrics;
  lifecycle: { isStarted(): boolean; isShuttingDown(): boolean };
  apiKey: string | undefined;
  /** /api requests in flight beyond this are shed with 503 + Retry-After (default: no limit). */
  apiMaxInFlight?: number;
  /** Body limits above the default 1 MB, by "METHOD /path" under /api (batch routes). */
  apiBodyLimits?: Record<string, string>;
  logger: Logger;
  /** Extra /api routers contributed by later modules (delivery, campaigns, ...). */
  apiRouters?: express.Router[];
  /**
   * /api routes without the API key, each authenticating its caller by a signature (inbound
   * webhook, unsubscribe links). Only what they route is let through; anything else under /api
   * still meets the key.
   */
  publicApiRouters?: express.Router[];
  /** What the modules' /api/v1 routes promise: served as /api/v1/openapi.json. */
  apiSpecs?: RouteSpec[];
  /** Every lock in the store with its holder (the dashboard's locks and lease holders). */
  locks?: () => Promise<LockInfo[]>;
  /** The operator dashboard at /dashboard: the modules' panels and the session settings. */
  dashboard?: { sources: DashboardSources; cookieSecure: boolean; sessionTtlMs: number; refreshSeconds: number };
}

/**
 * Seconds a caller is told to wait while the database cannot be reached: a restart or failover
 * takes seconds, so asking again at once would only add load to a server coming back.
 */
export const DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRoutes(deps));
  app.use(metricsRoutes(deps));
  // The API's description is public (it holds no data), so tools can read it without the key.
  const openApi = JSON.stringify(buildOpenApiDocument([...jobsApiSpec, ...(deps.apiSpecs ?? [])], API_VERSION));
  app.get('/api/v1/openapi.json', (_req, res) => void res.type('application/json').send(openApi));

  if (deps.publicApiRouters && deps.publicApiRouters.length > 0) {
    const publicApi = express.Router();
    for (const router of deps.publicApiRouters) publicApi.use(router);
    publicApi.use('/v1', problemErrorHandler(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS));
    app.use('/api', publicApi);
  }

  const api = express.Router();
  if (deps.apiMaxInFlight !== undefined) api.use(limitInFlight(deps.apiMaxInFlight));
  api.use(requireApiKey(deps.apiKey));
  const defaultJson = express.json({ limit: '1mb' });
  const largeJson = new Map(Object.entries(deps.apiBodyLimits ?? {}).map(([route, limit]) => [route, express.json({ limit })]));
  api.use((req, res, next) => (largeJson.get(`${req.method} ${req.path}`) ?? defaultJson)(req, res, next));
  api.use(refuseUnsafeInput());
  api.use(jobsRoutes(deps));
  api.use(v1JobsRoutes(deps));
  for (const router of deps.apiRouters ?? []) api.use(router);
  // /api/v1 answers errors as problem details, also those of the body parser before any route.
  api.use('/v1', problemErrorHandler(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS));
  app.use('/api', api);
  if (deps.dashboard) app.use('/dashboard', dashboardRoutes({ ...deps, ...deps.dashboard, locks: deps.locks }));

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    // Overload (no database connection free in time) is shed, not a failure: 503 + Retry-After.
    if (err?.status === 503) {
      res
        .set('Retry-After', String(err.retryAfterSeconds ?? SHED_RETRY_AFTER_SECONDS))
        .status(503)
        .json({ error: err.message });
      return;
    }
    // The database is down, restarting or cut off: a condition to retry, not a bug. A transaction
    // whose connection died is rolled back by the server, and a retry under the same idempotency
    // key is safe either way (a repeat of a stored message is a duplicate, not a second one).
    if (isDatabaseUnavailable(err)) {
      deps.logger.warn('http request failed: database unavailable', { error: err?.message ?? String(err), code: err?.code });
      res.set('Retry-After', String(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS)).status(503).json({ error: 'database unavailable' });
      return;
    }
    const status = typeof err?.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) deps.logger.error('http handler failed', { error: err?.stack ?? String(err) });
    res.status(status).json({ error: status === 500 ? 'internal error' : err.message });
  };
  app.use(onError);
  return app;
}
