import type { Router } from 'express';
import type { Config } from '../config/config';
import type { Database } from '../db/database';
import type { Probe } from '../health/health-monitor';
import type { LeaseLocks } from '../locks/lease';
import type { Logger } from '../logging/logger';
import type { Metrics } from '../metrics/metrics';
import type { Tracing } from '../observability/tracing';
import type { RedisConnection } from '../redis/redis-client';
import type { JobDefinition } from '../scheduler/job';
import type { TemplateEngine } from '../templates/template-engine';
import type { DashboardSources } from '../http/dashboard/dashboard-sources';
import type { RouteSpec } from '../http/openapi/route-spec';

/** What the composition root hands every module: the shared clients, built once. */
export interface ModuleContext {
  readonly config: Config;
  /** The API's pool: routes and whatever else a module reads or writes outside the hot paths. */
  readonly db: Database;
  /** The delivery dispatcher's own pool (the same database as db; PGlite: the same object). */
  readonly deliveryDb: Database;
  readonly locks: LeaseLocks;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Undefined in the embedded default (no REDIS_URL): modules fall back to in-process state. */
  readonly redis: RedisConnection | undefined;
  /** Aborted when shutdown gives up waiting; long-running module loops stop on it. */
  readonly shutdownSignal: AbortSignal;
  /** The one sandboxed template engine (TEMPLATE_* limits), for scheduling checks and sends alike. */
  readonly templates: TemplateEngine;
  /** Spans of the module's own work (the dispatcher's sends); none when absent (the CLI, tests) or without OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly tracing?: Tracing;
}

/**
 * A capability plugged into the worker (core jobs, delivery, knowledge, calls, CRM). Every part is
 * optional; the root wires jobs into the scheduler, routers under /api behind the API key (and
 * the few signed public routes before it),
 * probes into /health, and calls start() after the HTTP server listens and stop() during the
 * ordered shutdown, after the scheduler has drained and before the clients close.
 */
export interface WorkerModule {
  readonly name: string;
  jobs?(): JobDefinition[];
  apiRouter?(): Router;
  /**
   * Routes under /api that the outside world calls without the API key (Twilio's inbound
   * webhook, a one-click unsubscribe link): each authenticates its caller itself, by signature.
   * A request no route here takes goes on to the API-key guard.
   */
  publicApiRouter?(): Router;
  /** What its /api/v1 routes promise, for the OpenAPI document (src/http/openapi). */
  apiSpec?(): RouteSpec[];
  /** What it shows and does on the operator dashboard (/dashboard): the outbox, campaigns. */
  dashboard?(): DashboardSources;
  probes?(): Probe[];
  /** Fixed /health entries for dependencies the module reports without probing (e.g. disabled). */
  fixedStatuses?(): Record<string, 'disabled' | 'in-process'>;
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

export type ModuleFactory = (ctx: ModuleContext) => WorkerModule | Promise<WorkerModule>;
