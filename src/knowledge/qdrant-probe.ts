import type { Probe } from '../health/health-monitor';

/**
 * Qdrant's /readyz for /health. Qdrant is optional: its state is reported but never turns
 * /health into 503 (the crons and the outbox run without it; only the vector jobs wait).
 */
export function qdrantProbe(baseUrl: string): Probe {
  return {
    service: 'qdrant',
    required: false,
    okStatus: 'healthy',
    failStatus: 'unhealthy',
    async check() {
      // A fresh connection per probe: Qdrant's graceful stop waits for its open connections, and a
      // keep-alive one that this probe uses every HEALTH_PROBE_INTERVAL_MS never goes idle, so
      // `supervisorctl restart qdrant` waited out supervisord's stopwaitsecs (30 s) and ended in SIGKILL.
      const response = await fetch(new URL('/readyz', baseUrl), { headers: { connection: 'close' } });
      if (!response.ok) throw new Error(`qdrant /readyz answered ${response.status}`);
      await response.arrayBuffer();
    },
  };
}
