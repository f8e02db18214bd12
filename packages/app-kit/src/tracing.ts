import type { EventEmitter } from 'node:events';
import { Type } from '@sinclair/typebox';
import { parseEnv } from './env';

/**
 * The OpenTelemetry variables the apps read (the standard names, as the SDK reads them). Tracing is
 * on when either endpoint is set; unset, no OpenTelemetry module is loaded at all.
 */
export const TracingEnv = Type.Object({
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(
    Type.String({
      pattern: '^https?://[^\\s]+$',
      description: 'OTLP/HTTP collector base URL (traces go to <url>/v1/traces); set: traces are exported',
    }),
  ),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(
    Type.String({
      pattern: '^https?://[^\\s]+$',
      description: 'Full OTLP/HTTP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT',
    }),
  ),
  OTEL_SERVICE_NAME: Type.Optional(Type.String({ minLength: 1, description: "The traces' service.name; unset: the app's name" })),
});

export type SpanKindName = 'server' | 'client' | 'producer' | 'consumer' | 'internal';
export type SpanAttributeValue = string | number | boolean;
export type SpanAttributes = Record<string, SpanAttributeValue>;

/** One span, as the apps see it: attributes they choose (never personal data), a failure, an end. */
export interface TraceSpan {
  setAttribute(key: string, value: SpanAttributeValue): void;
  /** Marks the span failed with the error's class name only: error messages may carry addresses. */
  fail(error: unknown): void;
  end(): void;
}

/** What the apps use of OpenTelemetry, so that none of them imports it (it loads only when tracing is on). */
export interface Tracing {
  readonly serviceName: string;
  /** The URL the spans are posted to. */
  readonly url: string;
  /**
   * Runs `fn` in a new span and ends the span when `fn` settles (a throw does not mark it failed:
   * the caller knows which throws are failures). The parent is the active span; with `parent`
   * (BullMQ telemetry metadata, see {@link Tracing.metadata}), that context, `null` a new trace.
   */
  inSpan<T>(
    name: string,
    kind: SpanKindName,
    attributes: SpanAttributes,
    fn: (span: TraceSpan) => Promise<T>,
    parent?: string | null,
  ): Promise<T>;
  /** A span, child of the active one, that the caller ends. */
  startSpan(name: string, kind: SpanKindName, attributes: SpanAttributes): TraceSpan;
  /** Runs `fn` with `span` active; listeners added later to `emitters` run with it active too. */
  withSpan<T>(span: TraceSpan, emitters: readonly EventEmitter[], fn: () => T): T;
  /**
   * The active context as BullMQ's job telemetry metadata (`opts.telemetry.metadata`, stored as
   * `tm`): the JSON of its W3C `traceparent` (and `tracestate`), as `bullmq-otel` writes it.
   */
  metadata(): string | undefined;
  /** Exports the spans ended so far. */
  flush(): Promise<void>;
  /** Exports what is left and stops tracing. */
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

/** The process's tracing, once {@link startTracing} turned it on; `undefined` (the common case) costs nothing. */
export function activeTracing(): Tracing | undefined {
  return active;
}

/** Where the spans go for these settings, or undefined when tracing is off (both endpoints unset). */
export function tracesUrl(env: Record<string, string | undefined> = process.env): string | undefined {
  const parsed = parseEnv(TracingEnv, env);
  if (parsed.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return parsed.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (parsed.OTEL_EXPORTER_OTLP_ENDPOINT) return `${parsed.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}

/**
 * Turns tracing on when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
 * set: loads the SDK (a dynamic import), registers it globally with the W3C trace-context
 * propagator, and exports spans over OTLP/HTTP (JSON) in batches. Without either variable it
 * returns undefined and loads nothing. A malformed value throws a `ConfigError` naming it.
 * Call it once, before the app is built.
 */
export async function startTracing(
  defaultServiceName: string,
  env: Record<string, string | undefined> = process.env,
): Promise<Tracing | undefined> {
  const url = tracesUrl(env);
  if (url === undefined) return undefined;
  if (active) return active;
  const serviceName = parseEnv(TracingEnv, env).OTEL_SERVICE_NAME ?? defaultServiceName;
  const { createTracing } = await import('./tracing-sdk');
  active = await createTracing({ serviceName, url });
  return active;
}

/** Exports what is left and turns tracing off again (the process's stop, tests). */
export async function stopTracing(): Promise<void> {
  const tracing = active;
  active = undefined;
  await tracing?.shutdown();
}
