// Docker HEALTHCHECK: the worker process answers /health/live on PORT (liveness, not the
// dependencies: a Redis outage must not make Docker restart a worker that recovers by itself).
const port = process.env.PORT || '3002';
fetch(`http://127.0.0.1:${port}/health/live`, { signal: AbortSignal.timeout(4000) })
  .then((res) => process.exit(res.ok ? 0 : 1))
  .catch(() => process.exit(1));
