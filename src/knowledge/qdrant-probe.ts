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
      const response = await fetch(new URL('/readyz', baseUrl));
      if (!response.ok) throw new Error(`qdrant /readyz answered ${response.status}`);
      await response.arrayBuffer();
    },
  };
}
