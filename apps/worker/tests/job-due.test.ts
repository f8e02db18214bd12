// When an attempt became due (job-timings.ts, dueAt): what the wait of ceres_job_wait_seconds is
// counted from, told from BullMQ's job fields.
import { describe, expect, it } from 'vitest';
import { dueAt } from '../src/job-timings';

const job = (fields: { attemptsMade?: number; timestamp?: number; delay?: number; stacktrace?: string[] }) => ({
  attemptsMade: fields.attemptsMade ?? 0,
  timestamp: fields.timestamp ?? 1_000_000,
  opts: fields.delay === undefined ? {} : { delay: fields.delay },
  stacktrace: fields.stacktrace ?? [],
});

describe('dueAt', () => {
  it('is the enqueue of a first attempt, plus the delay it was added with', () => {
    expect(dueAt(job({}), undefined)).toBe(1_000_000);
    expect(dueAt(job({ delay: 3_000 }), undefined)).toBe(1_003_000);
  });

  it('is what the process that ran the failed attempt remembered for a retry, else unknown', () => {
    expect(dueAt(job({ attemptsMade: 2, delay: 3_000 }), 5_000_000)).toBe(5_000_000);
    expect(dueAt(job({ attemptsMade: 1 }), undefined)).toBeUndefined();
  });

  it('is unknown for a failed job an operator retried (attempts reset, stack trace kept)', () => {
    expect(dueAt(job({ stacktrace: ['Error: boom'] }), undefined)).toBeUndefined();
  });
});
