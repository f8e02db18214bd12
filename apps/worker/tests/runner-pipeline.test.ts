// Unit tests of the runner's per-attempt steps (src/runner/pipeline.ts): plain functions, no Redis.
import { findJobDefinition, parseKeyring, PayloadValidationError } from '@ceres/queues';
import { testEncryptionKey } from '@ceres/testing';
import { UnrecoverableError, type Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { sealPayload } from '../../../packages/queues/src/crypto/fields';
import { createLogger } from '../src/deps/logger';
import { attemptClass } from '../src/runner/attempt';
import { classifyFailure, JobTimeoutError, MAX_PAUSE_MS, openJob, runWithDeadline, validateJob } from '../src/runner/pipeline';
import { ThrottledError } from '../src/throttled-error';

const welcome = findJobDefinition('email', 'welcome')!;
const v1 = parseKeyring(testEncryptionKey('v1'));
const plain = { userId: 'u1', email: 'ana@example.com', firstName: 'Ana' };
const jobOf = (data: unknown, name = 'welcome') =>
  ({ id: 'email:welcome:u1', name, queueName: 'email', data, attemptsMade: 0 }) as unknown as Job;
const sealed = (keyring = v1) => sealPayload(keyring, 'email/welcome', welcome, plain, false).data;

describe('openJob', () => {
  it('gives the processor the opened payload and leaves the stored job sealed', () => {
    const job = jobOf(sealed());
    const opened = openJob(job, welcome, v1);
    expect(opened.data).toEqual(plain);
    expect(opened.id).toBe(job.id);
    expect((job.data as Record<string, unknown>).email).toBeUndefined();
  });

  it('returns the job itself when nothing is sealed', () => {
    const job = jobOf({ text: 'hi' }, 'alert');
    expect(openJob(job, findJobDefinition('slack', 'alert'), v1)).toBe(job);
  });

  it('a key this worker does not list yet fails the attempt (retried); a value that never opens fails for good', () => {
    const other = parseKeyring(testEncryptionKey('v2'));
    const fromElsewhere = jobOf(sealed(other));
    expect(() => openJob(fromElsewhere, welcome, v1)).toThrow(/^cannot open the payload yet: \$sealed: encrypted with key "v2"/);
    expect(() => openJob(fromElsewhere, welcome, v1)).not.toThrow(UnrecoverableError);
    const moved = jobOf({ ...(sealed() as object), userId: 'u2' });
    expect(() => openJob(moved, welcome, v1)).toThrow(UnrecoverableError);
    expect(() => openJob(jobOf(sealed()), welcome, undefined)).toThrow(UnrecoverableError);
  });
});

describe('validateJob', () => {
  it('passes a valid payload and fails an invalid one without retry, with its issues', () => {
    expect(() => validateJob(jobOf(plain))).not.toThrow();
    let caught: unknown;
    try {
      validateJob(jobOf({ ...plain, email: 'not an address' }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnrecoverableError);
    expect((caught as { issues?: PayloadValidationError['issues'] }).issues?.[0]?.field).toBe('email');
  });
});

describe('runWithDeadline', () => {
  const Attempt = attemptClass(createLogger('silent'));

  it('returns what the work returns', async () => {
    await expect(runWithDeadline(async () => 42, new Attempt(jobOf(plain)), 1_000)).resolves.toBe(42);
  });

  it('ends the attempt at its deadline even when the work ignores the signal, and aborts the signal', async () => {
    const attempt = new Attempt(jobOf(plain));
    const started = Date.now();
    await expect(runWithDeadline(() => new Promise(() => {}), attempt, 50)).rejects.toBeInstanceOf(JobTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(attempt.signal.aborted).toBe(true);
  });

  it('ends at once when the attempt is aborted (a forced stop)', async () => {
    const attempt = new Attempt(jobOf(plain));
    setTimeout(() => attempt.abort(new Error('worker is shutting down')), 10);
    await expect(runWithDeadline(() => new Promise(() => {}), attempt, 10_000)).rejects.toThrow('worker is shutting down');
  });
});

describe('classifyFailure', () => {
  it('finds a throttling answer in the cause chain, bounding the pause', () => {
    const throttled = new ThrottledError(2_000, '421 try later');
    expect(classifyFailure(new Error('send failed', { cause: throttled }))).toEqual({
      kind: 'throttled',
      pauseMs: 2_000,
      cause: throttled,
    });
    expect(classifyFailure(new ThrottledError(10 * MAX_PAUSE_MS, 'x'))).toMatchObject({ pauseMs: MAX_PAUSE_MS });
    expect(classifyFailure(new ThrottledError(0, 'x'))).toMatchObject({ pauseMs: 1 });
    expect(classifyFailure(new Error('550 no such user'))).toEqual({ kind: 'failed' });
  });
});
