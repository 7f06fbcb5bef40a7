// Docker HEALTHCHECK: the worker process answers /health/live on PORT (liveness, not the
// dependencies: a Redis outage must not make Docker restart a worker that recovers by itself).
// It asks the address the worker listens on (BIND_ADDRESS), or loopback when that is every interface.
const port = process.env.PORT || '3002';
const bind = (process.env.BIND_ADDRESS || '').trim();
const host = bind === '' || bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind.includes(':') ? `[${bind}]` : bind;
fetch(`http://${host}:${port}/health/live`, { signal: AbortSignal.timeout(4000) })
  .then((res) => process.exit(res.ok ? 0 : 1))
  .catch(() => process.exit(1));
