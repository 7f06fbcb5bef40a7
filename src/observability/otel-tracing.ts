import { ROOT_CONTEXT, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { parseTraceparent } from './traceparent';
import type { SpanAttributes, Tracing, TracingOptions, WorkSpan } from './tracing';

/**
 * Tracing through the official OpenTelemetry SDK, exported in batches over OTLP/HTTP (JSON) to
 * <endpoint>/v1/traces. The provider is not registered globally: the worker hands its spans their
 * parent explicitly (a message's traceparent), so nothing here depends on, or changes, the process's
 * global OpenTelemetry state (which another library in an embedding application may own).
 */
export function createOtelTracing(options: TracingOptions & { endpoint: string }): Tracing {
  const exporter = new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.instance.id': options.instanceId }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('crm-worker');

  const parentContext = (traceparent: string | null | undefined): Context => {
    const parent = traceparent ? parseTraceparent(traceparent) : undefined;
    if (!parent) return ROOT_CONTEXT;
    return trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags & 1, isRemote: true });
  };
  const defined = (attributes: SpanAttributes | undefined) =>
    Object.fromEntries(Object.entries(attributes ?? {}).filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined));

  return {
    enabled: true,
    startSpan(name, { attributes, parent }): WorkSpan {
      const span = tracer.startSpan(name, { attributes: defined(attributes) }, parentContext(parent));
      return {
        setAttributes: (more) => void span.setAttributes(defined(more)),
        end(error) {
          if (error !== undefined) {
            const message = options.redactText(error instanceof Error ? error.message : String(error));
            span.setStatus({ code: SpanStatusCode.ERROR, message });
          }
          span.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}
