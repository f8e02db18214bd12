import { describe, expect, it } from 'vitest';
import { AuthFailureLimiter, MIN_SECRET_LENGTH, secretWeakness } from '../src';

describe('AuthFailureLimiter', () => {
  const clock = () => {
    let now = 1_000_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it('refuses a client from its max-th failure until the window that began at its first failure ends', () => {
    const time = clock();
    const limiter = new AuthFailureLimiter({ max: 3, windowMs: 10_000, now: time.now });
    expect(limiter.retryAfterSeconds('a')).toBe(0);
    limiter.fail('a');
    time.advance(4_000);
    limiter.fail('a');
    expect(limiter.retryAfterSeconds('a')).toBe(0);
    limiter.fail('a');
    expect(limiter.retryAfterSeconds('a')).toBe(6);
    expect(limiter.retryAfterSeconds('b')).toBe(0);
    time.advance(5_500);
    expect(limiter.retryAfterSeconds('a')).toBe(1);
    time.advance(500);
    expect(limiter.retryAfterSeconds('a')).toBe(0);
    // A new window starts with the next failure.
    limiter.fail('a');
    expect(limiter.retryAfterSeconds('a')).toBe(0);
  });

  it('remembers at most maxClients, forgetting the oldest window first', () => {
    const time = clock();
    const limiter = new AuthFailureLimiter({ max: 1, windowMs: 60_000, maxClients: 2, now: time.now });
    limiter.fail('a');
    time.advance(1);
    limiter.fail('b');
    time.advance(1);
    limiter.fail('c');
    expect(limiter.retryAfterSeconds('a')).toBe(0);
    expect(limiter.retryAfterSeconds('b')).toBeGreaterThan(0);
    expect(limiter.retryAfterSeconds('c')).toBeGreaterThan(0);
  });
});

describe('secretWeakness', () => {
  it.each([
    ['', `is shorter than ${MIN_SECRET_LENGTH} characters`],
    ['x', `is shorter than ${MIN_SECRET_LENGTH} characters`],
    ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'has fewer than 6 distinct characters'],
    ['abcabcabcabcabcabcabc', 'has fewer than 6 distinct characters'],
  ])('refuses %j', (secret, reason) => {
    expect(secretWeakness(secret)).toBe(reason);
  });

  it('accepts what `npm start` generates and the documented example', () => {
    expect(secretWeakness('correct horse battery staple')).toBeUndefined();
    expect(secretWeakness('q0m3ZbCkq1Y2x7XhN9l4a8sFvTd5Uw6e')).toBeUndefined();
  });
});
