import { describe, expect, it } from 'vitest';
import { limiterFor, PAUSE_ONLY_LIMITER, queueLimiter, RATE_LIMITED_QUEUES } from '../src';

describe('queue rate limits', () => {
  it('turns a rate per second into a BullMQ limiter that allows exactly that rate', () => {
    for (const rate of [1, 10, 100, 0.5, 0.25, 2.5, 0.01]) {
      const { max, duration } = limiterFor(rate);
      expect(Number.isInteger(max) && max >= 1).toBe(true);
      expect((max * 1000) / duration).toBeCloseTo(rate, 5);
    }
  });

  it('gives a queue without a rate a limiter that never limits but carries back-pressure pauses', () => {
    expect(queueLimiter(undefined)).toEqual(PAUSE_ONLY_LIMITER);
    // A pause sets the limiter key to Number.MAX_SAFE_INTEGER: at or above max, so it holds.
    expect(PAUSE_ONLY_LIMITER.max).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    expect(PAUSE_ONLY_LIMITER.max).toBeGreaterThanOrEqual(1_000_000);
    expect(queueLimiter(10)).toEqual(limiterFor(10));
  });

  it('declares each rate variable once, on the queues that send to a rate-limited peer', () => {
    const variables = RATE_LIMITED_QUEUES.map(({ rateLimit }) => rateLimit.env);
    expect(new Set(variables).size).toBe(variables.length);
    expect(Object.fromEntries(RATE_LIMITED_QUEUES.map(({ queue, rateLimit }) => [queue, rateLimit.perSecond]))).toMatchObject({
      email: undefined,
      slack: 1,
    });
  });
});
