import { describe, expect, it } from 'vitest';
import { backoffStrategy, RETRY_BACKOFF_TYPE, RETRY_DELAYS_MS, retryDelay, SCHEDULE_ATTEMPTS } from '../src';

describe('retryDelay', () => {
  it('waits 1 s, 5 s, 15 s, 60 s, 300 s after attempts 1 to 5', () => {
    expect([1, 2, 3, 4, 5].map(retryDelay)).toEqual([1_000, 5_000, 15_000, 60_000, 300_000]);
  });

  it('keeps the last delay past the end of the schedule', () => {
    expect(retryDelay(6)).toBe(300_000);
    expect(retryDelay(50)).toBe(300_000);
  });

  it('rejects attempt counts BullMQ never passes', () => {
    expect(() => retryDelay(0)).toThrow(RangeError);
    expect(() => retryDelay(1.5)).toThrow(RangeError);
  });

  it('allows the first attempt plus one retry per delay', () => {
    expect(SCHEDULE_ATTEMPTS).toBe(RETRY_DELAYS_MS.length + 1);
    expect(SCHEDULE_ATTEMPTS).toBe(6);
  });

  it('is what the BullMQ strategy returns for our backoff type, and refuses other types', () => {
    const strategy = backoffStrategy as (attempts: number, type?: string) => number;
    expect(strategy(2, RETRY_BACKOFF_TYPE)).toBe(5_000);
    expect(() => strategy(1, 'mystery')).toThrow(/unknown backoff type/);
  });
});

describe('workerSettings', () => {
  it('registers the schedule strategy and keeps a week of per-minute metrics on every Worker', async () => {
    const { MetricsTime } = await import('bullmq');
    const { workerSettings } = await import('../src');
    expect(workerSettings.settings.backoffStrategy).toBe(backoffStrategy);
    expect(workerSettings.metrics.maxDataPoints).toBe(MetricsTime.ONE_WEEK);
  });
});
