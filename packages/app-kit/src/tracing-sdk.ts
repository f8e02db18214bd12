// Loaded by tracing.ts only when tracing is on: every OpenTelemetry module is imported here, and
// only dynamically, so a build that bundles this file still loads none of them until it is called.
import type { Context, Span, SpanKind as SpanKindEnum } from '@opentelemetry/api';
import type { SpanKindName, Tracing, TraceSpan } from './tracing';

export async function createTracing({ serviceName, url }: { serviceName: string; url: string }): Promise<Tracing> {
  const [api, { NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { defaultResource, resourceFromAttributes }, semconv] =
    await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/semantic-conventions'),
    ]);
  const { context, propagation, trace, ROOT_CONTEXT, SpanKind, SpanStatusCode } = api;
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ [semconv.ATTR_SERVICE_NAME]: serviceName })),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  // The AsyncLocalStorage context manager and the W3C trace-context + baggage propagator.
  provider.register();
  const tracer = provider.getTracer('@ceres/jobs');
  const KINDS: Record<SpanKindName, SpanKindEnum> = {
    server: SpanKind.SERVER,
    client: SpanKind.CLIENT,
    producer: SpanKind.PRODUCER,
    consumer: SpanKind.CONSUMER,
    internal: SpanKind.INTERNAL,
  };

  class SpanHandle implements TraceSpan {
    constructor(readonly span: Span) {}
    setAttribute(key: string, value: string | number | boolean): void {
      this.span.setAttribute(key, value);
    }
    fail(error: unknown): void {
      const type = error instanceof Error ? error.name || error.constructor.name : typeof error;
      this.span.setAttribute('error.type', type);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    }
    end(): void {
      this.span.end();
    }
  }

  const parentContext = (parent: string | null | undefined): Context => {
    if (parent === undefined) return context.active();
    if (parent === null) return ROOT_CONTEXT;
    try {
      const carrier: unknown = JSON.parse(parent);
      return carrier !== null && typeof carrier === 'object' ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
    } catch {
      return ROOT_CONTEXT;
    }
  };

  return {
    serviceName,
    url,
    inSpan(name, kind, attributes, fn, parent) {
      const parentCtx = parentContext(parent);
      const span = tracer.startSpan(name, { kind: KINDS[kind], attributes }, parentCtx);
      const handle = new SpanHandle(span);
      return context.with(trace.setSpan(parentCtx, span), async () => {
        try {
          return await fn(handle);
        } finally {
          span.end();
        }
      });
    },
    startSpan(name, kind, attributes) {
      return new SpanHandle(tracer.startSpan(name, { kind: KINDS[kind], attributes }));
    },
    withSpan(span, emitters, fn) {
      const ctx = trace.setSpan(context.active(), (span as SpanHandle).span);
      for (const emitter of emitters) context.bind(ctx, emitter);
      return context.with(ctx, fn);
    },
    metadata() {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      return carrier.traceparent === undefined ? undefined : JSON.stringify(carrier);
    },
    flush: () => provider.forceFlush(),
    async shutdown() {
      try {
        await provider.shutdown();
      } finally {
        // Off even when the last export failed (collector gone): nothing is traced after a stop.
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}
