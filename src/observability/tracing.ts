/**
 * Traces of the worker's own work: a span per tick and per send. The interface is all the
 * scheduler and the dispatcher know; the OpenTelemetry implementation (otel-tracing.ts) is loaded
 * only when OTEL_EXPORTER_OTLP_ENDPOINT is set, so a worker without it loads no OpenTelemetry code.
 */
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

export interface WorkSpan {
  setAttributes(attributes: SpanAttributes): void;
  /** Ends the span; with an error, its status is ERROR with the error's text (redacted). */
  end(error?: unknown): void;
}

export interface Tracing {
  readonly enabled: boolean;
  /**
   * Starts a span. `parent` is a W3C traceparent (the scheduling caller's): the span joins that
   * trace as its child. Without one, the span starts a trace of its own.
   */
  startSpan(name: string, options: { attributes?: SpanAttributes; parent?: string | null }): WorkSpan;
  /** Exports what is left; called by the ordered shutdown. */
  shutdown(): Promise<void>;
}

const noSpan: WorkSpan = { setAttributes: () => undefined, end: () => undefined };

export const noTracing: Tracing = {
  enabled: false,
  startSpan: () => noSpan,
  shutdown: async () => undefined,
};

export interface TracingOptions {
  /** OTEL_EXPORTER_OTLP_ENDPOINT; undefined = no tracing. */
  endpoint: string | undefined;
  serviceName: string;
  instanceId: string;
  /** The logs' redaction (src/logging/redact.ts), applied to error texts put on spans. */
  redactText: (text: string) => string;
}

/** OpenTelemetry when an endpoint is configured (loaded on demand), else spans that cost nothing. */
export async function openTracing(options: TracingOptions): Promise<Tracing> {
  if (!options.endpoint) return noTracing;
  const { createOtelTracing } = await import('./otel-tracing');
  return createOtelTracing({ ...options, endpoint: options.endpoint });
}
