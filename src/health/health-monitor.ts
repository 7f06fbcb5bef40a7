import type { Logger } from '../logging/logger';
import { withDeadline } from '../util/deadline';

export type ServiceStatus = 'connected' | 'disconnected' | 'read-only' | 'healthy' | 'unhealthy' | 'disabled' | 'in-process' | 'unknown';

/**
 * Thrown by a probe whose dependency answers but is not usable as it should be (a database that
 * cannot take writes): reported with this status instead of the probe's failStatus.
 */
export class ProbeFailure extends Error {
  constructor(
    readonly status: ServiceStatus,
    message: string,
  ) {
    super(message);
    this.name = 'ProbeFailure';
  }
}

/** One dependency to watch. A required one that fails turns /health into 503. */
export interface Probe {
  readonly service: string;
  readonly required: boolean;
  readonly okStatus: ServiceStatus;
  readonly failStatus: ServiceStatus;
  check(): Promise<void>;
}

export interface ServiceHealth {
  status: ServiceStatus;
  required: boolean;
  checkedAt: string | undefined;
  error?: string;
}

/**
 * Probes dependencies in the background and keeps the latest answer, so /health answers from
 * memory in microseconds even while a dependency hangs; each probe has its own deadline and at
 * most one probe per service is in flight.
 */
export class HealthMonitor {
  private readonly results = new Map<string, ServiceHealth>();
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly probes: readonly Probe[],
    private readonly fixed: Readonly<Record<string, ServiceStatus>>,
    private readonly options: {
      timeoutMs: number;
      intervalMs: number;
      logger: Logger;
      /** Told every probe's result (the crm_worker_dependency_up gauge), changed or not. */
      onResult?: (service: string, up: boolean) => void;
    },
  ) {
    for (const probe of probes) {
      this.results.set(probe.service, { status: 'unknown', required: probe.required, checkedAt: undefined });
    }
  }

  async start(): Promise<void> {
    await this.probeAll();
    this.timer = setInterval(() => void this.probeAll(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Services by name, in the design's shape ("connected", "healthy", "disabled", ...). */
  services(): Record<string, ServiceStatus> {
    const out: Record<string, ServiceStatus> = { ...this.fixed };
    for (const [service, health] of this.results) out[service] = health.status;
    return out;
  }

  details(): Record<string, ServiceHealth> {
    return Object.fromEntries(this.results);
  }

  /** Required services that are not answering, with the reason: what /health names on 503. */
  problems(): string[] {
    return [...this.results.entries()]
      .filter(([, h]) => h.required && h.status !== 'unknown' && !isUp(h.status))
      .map(([service, h]) => `${service}: ${h.error ?? h.status}`);
  }

  /** The same list without the reasons ("database: disconnected"), for callers who may not see them. */
  problemServices(): string[] {
    return [...this.results.entries()]
      .filter(([, h]) => h.required && h.status !== 'unknown' && !isUp(h.status))
      .map(([service, h]) => `${service}: ${h.status}`);
  }

  healthy(): boolean {
    return [...this.results.values()].every((h) => !h.required || isUp(h.status));
  }

  private async probeAll(): Promise<void> {
    await Promise.all(this.probes.map((p) => this.probeOne(p)));
  }

  private async probeOne(probe: Probe): Promise<void> {
    if (this.inFlight.has(probe.service)) return;
    this.inFlight.add(probe.service);
    const before = this.results.get(probe.service)!;
    let next: ServiceHealth;
    try {
      await withDeadline(probe.check(), this.options.timeoutMs, `${probe.service} health check`);
      next = { status: probe.okStatus, required: probe.required, checkedAt: new Date().toISOString() };
    } catch (err) {
      next = {
        status: err instanceof ProbeFailure ? err.status : probe.failStatus,
        required: probe.required,
        checkedAt: new Date().toISOString(),
        error: (err as Error).message,
      };
    } finally {
      this.inFlight.delete(probe.service);
    }
    if (before.status !== next.status) {
      const level = isUp(next.status) ? 'info' : 'warn';
      this.options.logger.log(level, 'service health changed', {
        service: probe.service,
        from: before.status,
        to: next.status,
        ...(next.error ? { error: next.error } : {}),
      });
    }
    this.results.set(probe.service, next);
    this.options.onResult?.(probe.service, isUp(next.status));
  }
}

function isUp(status: ServiceStatus): boolean {
  return status === 'connected' || status === 'healthy' || status === 'in-process' || status === 'disabled';
}
