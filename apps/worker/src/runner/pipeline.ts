import { openPayload, parsePayload, PayloadDecryptionError, PayloadValidationError, type JobDefinition, type Keyring } from '@ceres/queues';
import { UnrecoverableError, type Job } from 'bullmq';
import type { ProcessorJob } from '../processors';
import { findThrottled } from '../throttled-error';
import { ABORT_GRACE_MS, untilDeadline } from '../attempt-deadline';
import type { Attempt } from './attempt';

/*
 * The steps of one attempt, in order: open the payload → validate it → run the processor under a
 * deadline → classify the outcome. Each is a plain function; the runner (job-runner.ts) calls
 * them and turns their results into events. A new step is a function here, its call in
 * `JobRunner.run`, and its unit test in tests/runner-pipeline.test.ts.
 */

/** Bounds a back-pressure pause, whatever a peer asked for. */
export const MAX_PAUSE_MS = 15 * 60_000;

/** The attempt outlived its queue's `timeoutMs`; it is aborted and counts as a failed attempt. */
export class JobTimeoutError extends Error {
  override name = 'JobTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`job timed out after ${timeoutMs} ms`);
  }
}

/**
 * Step 1. The job as the processor sees it: `data` with its personal fields opened. The BullMQ job
 * keeps the ciphertext, so what the dead letters archive (and Redis keeps) stays encrypted.
 * A payload sealed with a key this process does not list yet fails this attempt only (during a
 * rotation another process may know the key first; the retry schedule gives it time); one that
 * never opens (altered, another job's, no keyring) fails without retry.
 */
export function openJob(job: Job, definition: JobDefinition | undefined, keyring: Keyring | undefined): ProcessorJob<unknown> {
  let data: unknown;
  try {
    data = openPayload(keyring, `${job.queueName}/${job.name}`, definition, job.data);
  } catch (error) {
    if (error instanceof PayloadDecryptionError) {
      if (error.kind === 'unknown-key') throw new Error(`cannot open the payload yet: ${error.message}`, { cause: error });
      throw new UnrecoverableError(`cannot decrypt the payload: ${error.message}`);
    }
    throw error;
  }
  if (data === job.data) return job;
  // A plain view of what a processor may read (ProcessorJob), not an object inheriting from the
  // job: a BullMQ Job used as a prototype is turned into one by V8, and BullMQ's own reads of it
  // (completing, failing, extending the lock) then got slower.
  return {
    id: job.id,
    name: job.name,
    queueName: job.queueName,
    data,
    attemptsMade: job.attemptsMade,
    timestamp: job.timestamp,
    stalledCounter: job.stalledCounter,
    updateProgress: (progress) => job.updateProgress(progress),
  };
}

/** Step 2. A payload that does not match its schema never will: fail at once, no retries. */
export function validateJob(job: Pick<Job, 'queueName' | 'name' | 'data'>): void {
  try {
    parsePayload(job.queueName, job.name, job.data);
  } catch (error) {
    if (error instanceof PayloadValidationError) throw Object.assign(new UnrecoverableError(error.message), { issues: error.issues });
    throw error;
  }
}

/**
 * Step 3. Runs `work` until it settles or the attempt is aborted (its deadline, a forced stop):
 * the attempt ends at its deadline even when a processor ignores the signal, after a short grace
 * (at most the timeout itself) in which a processor that stops at the signal records what it did
 * (a mail of unknown outcome marked sent, attempt-deadline.ts).
 */
export async function runWithDeadline<T>(work: () => Promise<T>, attempt: Attempt, timeoutMs: number): Promise<T> {
  const timer = setTimeout(() => attempt.abort(new JobTimeoutError(timeoutMs)), timeoutMs);
  try {
    return await untilDeadline(work(), attempt.aborted, Math.min(ABORT_GRACE_MS, timeoutMs));
  } finally {
    clearTimeout(timer);
  }
}

/** What a failed attempt means for its queue. */
export type FailureKind = { kind: 'throttled'; pauseMs: number; cause: Error } | { kind: 'failed' };

/** Step 4. A peer's throttling (anywhere in the cause chain) asks for a queue-wide pause, bounded; anything else is a failed attempt. */
export function classifyFailure(error: unknown): FailureKind {
  const throttled = findThrottled(error);
  if (!throttled) return { kind: 'failed' };
  return { kind: 'throttled', pauseMs: Math.min(Math.max(Math.round(throttled.retryAfterMs), 1), MAX_PAUSE_MS), cause: throttled };
}
