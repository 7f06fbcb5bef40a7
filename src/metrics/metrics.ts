import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { renderOpenMetrics } from './open-metrics';

/**
 * All Prometheus metrics of the process, on a registry owned by the composition root (no
 * global default registry, so tests can build several workers in one process). Metrics live in
 * one Prometheus-format registry; the OpenMetrics exposition is rendered from it through views
 * (open-metrics.ts), because prom-client's OpenMetrics registry renames shared counters in place.
 */
export function createMetrics() {
  const registry = new Registry();
  const registers = [registry];
  // The event-loop lag is sampled every 100 ms, not prom-client's 10: that monitor's timer was what
  // woke an idle worker about 200 times a second (1,082 wake-ups in 5 s, 163 with this). A stall
  // still shows in full: it delays the next sample by as long as it lasts.
  collectDefaultMetrics({ register: registry, prefix: 'crm_worker_', eventLoopMonitoringPrecision: 100 });
  // prom-client names these gauges *_total, which Prometheus reserves for counters (promtool
  // rejects them); the handle and resource counts are not worth a malformed exposition.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(`crm_worker_${name}`);
  }

  return {
    registry,
    registers,
    openMetricsContentType: Registry.OPENMETRICS_CONTENT_TYPE,
    /** The same metrics in OpenMetrics text; never changes what `registry.metrics()` renders. */
    renderOpenMetrics: () => renderOpenMetrics(registry),
    jobRuns: new Counter({
      name: 'crm_worker_job_runs_total',
      help: 'Job ticks this process ran, by job and outcome (succeeded, failed, aborted, lease-lost).',
      labelNames: ['job', 'outcome'] as const,
      registers,
    }),
    ticksSkipped: new Counter({
      name: 'crm_worker_job_ticks_skipped_total',
      help: 'Ticks this process did not run, by reason (contended: left to the lease holder, already-ran, ahead-of-database, overlap, lock-unavailable, fence-unavailable, shutting-down).',
      labelNames: ['job', 'reason'] as const,
      registers,
    }),
    ticksTakenOver: new Counter({
      name: 'crm_worker_job_ticks_taken_over_total',
      help: 'Fire times this process ran as lease holder because the replica that fired them found the lease taken.',
      labelNames: ['job'] as const,
      registers,
    }),
    lockContention: new Counter({
      name: 'crm_worker_lock_contention_total',
      help: 'Lock acquisitions refused because another holder had the lease.',
      labelNames: ['job'] as const,
      registers,
    }),
    missedTicks: new Counter({
      name: 'crm_worker_missed_ticks_total',
      help: 'Scheduled fire times that passed without a run: blocked (event loop late), down (no worker ran) or late (left to a lease holder that came to it past the tolerance).',
      labelNames: ['job', 'reason'] as const,
      registers,
    }),
    jobDuration: new Histogram({
      name: 'crm_worker_job_run_duration_seconds',
      help: 'Wall time of job ticks, from handler start to outcome.',
      labelNames: ['job', 'outcome'] as const,
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'crm_worker_job_last_success_timestamp_seconds',
      help: 'Unix time at which each job last finished successfully in this process.',
      labelNames: ['job'] as const,
      registers,
    }),
    itemsProcessed: new Counter({
      name: 'crm_worker_job_items_processed_total',
      help: 'Items processed by job ticks (tenants suspended, calls removed, ...).',
      labelNames: ['job'] as const,
      registers,
    }),
    jobRunning: new Gauge({
      name: 'crm_worker_job_running',
      help: '1 while a tick of the job runs in this process.',
      labelNames: ['job'] as const,
      registers,
    }),
    dependencyUp: new Gauge({
      name: 'crm_worker_dependency_up',
      help: 'Latest background probe of each dependency /health reports (database, redis, qdrant, ...): 1 answering, 0 not.',
      labelNames: ['dependency'] as const,
      registers,
    }),
    leasesLost: new Counter({
      name: 'crm_worker_leases_lost_total',
      help: 'Leases lost while held (renewal refused or unconfirmed before the TTL ran out).',
      labelNames: ['job'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
