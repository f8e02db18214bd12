// The pure parts of the job timings (job-timings.ts): the bucket of a time, the quantile of a
// histogram as Prometheus's histogram_quantile estimates it, a wait as the CLI and report print it.
import { describe, expect, it } from 'vitest';
import { BUCKET_COUNT, bucketIndex, formatWait, histogramQuantile, TIMING_BUCKETS } from '../src/job-timings';

const histogram = (entries: Record<number, number>) => {
  const buckets = new Array<number>(BUCKET_COUNT).fill(0);
  for (const [index, count] of Object.entries(entries)) buckets[Number(index)] = count;
  return buckets;
};

describe('bucketIndex', () => {
  it('puts a time in the first bucket whose bound is at least it (le), beyond the last in +Inf', () => {
    expect(TIMING_BUCKETS[0]).toBe(0.001);
    expect(TIMING_BUCKETS.at(-1)).toBe(1800);
    expect(bucketIndex(0)).toBe(0);
    expect(bucketIndex(1)).toBe(0);
    expect(bucketIndex(1.5)).toBe(1);
    expect(bucketIndex(5)).toBe(1);
    expect(bucketIndex(999)).toBe(8);
    expect(bucketIndex(1000)).toBe(8);
    expect(bucketIndex(1001)).toBe(9);
    expect(bucketIndex(1_800_000)).toBe(18);
    expect(bucketIndex(1_800_001)).toBe(19);
    expect(BUCKET_COUNT).toBe(20);
  });
});

describe('histogramQuantile', () => {
  it('is null for no observation', () => {
    expect(histogramQuantile(0.95, histogram({}))).toBeNull();
  });

  it('interpolates within the bucket the rank falls in, from 0 below the first', () => {
    // 100 in 25–50 ms: the 95th is at 95% of the bucket.
    expect(histogramQuantile(0.95, histogram({ 4: 100 }))).toBeCloseTo(0.025 + 0.025 * 0.95, 9);
    expect(histogramQuantile(0.5, histogram({ 0: 10 }))).toBeCloseTo(0.0005, 9);
    // 95 fast and 5 slow: the 95th is the last fast one (the top of its bucket), the 96th a slow one.
    const mixed = histogram({ 4: 95, 12: 5 });
    expect(histogramQuantile(0.95, mixed)).toBeCloseTo(0.05, 9);
    expect(histogramQuantile(0.99, mixed)).toBeCloseTo(10 + 20 * (4 / 5), 9);
  });

  it('answers the highest finite bound when the rank falls in +Inf', () => {
    expect(histogramQuantile(0.95, histogram({ 19: 3 }))).toBe(1800);
    expect(histogramQuantile(0.5, histogram({ 0: 1, 19: 3 }))).toBe(1800);
  });
});

describe('formatWait', () => {
  it('prints ms below a second, then s, then min, and - for none', () => {
    expect(formatWait(null)).toBe('-');
    expect(formatWait(0.0123)).toBe('12 ms');
    expect(formatWait(2.425)).toBe('2.4 s');
    expect(formatWait(1800)).toBe('30.0 min');
  });
});
