import { describe, expect, it } from 'vitest';
import { activeTracing, ConfigError, startTracing, tracesUrl } from '../src';

describe('tracing settings', () => {
  it('is off without either endpoint: startTracing loads nothing and returns undefined', async () => {
    expect(tracesUrl({})).toBeUndefined();
    expect(tracesUrl({ OTEL_SERVICE_NAME: 'ceres-x', OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBeUndefined();
    await expect(startTracing('ceres-x', { OTEL_SERVICE_NAME: 'ceres-x' })).resolves.toBeUndefined();
    expect(activeTracing()).toBeUndefined();
  });

  it('sends to <endpoint>/v1/traces, or to the traces endpoint when that is set', () => {
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.example/otlp/' })).toBe('https://collector.example/otlp/v1/traces');
    expect(
      tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://other:9999/traces' }),
    ).toBe('http://other:9999/traces');
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://collector:4317' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'],
  ])('a malformed endpoint is a ConfigError naming it, and tracing stays off (%o)', async (env, variable) => {
    expect(() => tracesUrl(env)).toThrow(ConfigError);
    expect(() => tracesUrl(env)).toThrow(new RegExp(`^${variable}: `));
    await expect(startTracing('ceres-x', env)).rejects.toThrow(ConfigError);
    expect(activeTracing()).toBeUndefined();
  });
});
