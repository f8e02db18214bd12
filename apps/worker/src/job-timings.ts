import { JobTimings, type QueueName } from '@ceres/queues';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { WorkerDeps } from './deps';
import { errorSummary } from './redact';
import type { JobRunner } from './runner/job-runner';

/** How long after its first unsent observation a worker process adds its job timings to Redis. */
export const TIMINGS_FLUSH_MS = 1_000;

/** Retries whose due time this process remembers (the jobs it failed last); the oldest go first. */
const MAX_REMEMBERED_RETRIES = 10_000;

/**
 * When the attempt of `job` that starts now became due, in ms since the epoch, or undefined when
 * the job's fields cannot tell:
 * - a first attempt (`attemptsMade` 0): its enqueue (`timestamp`) plus the delay it was added with
 *   (`opts.delay`; the hash's `delay` field is zeroed when BullMQ promotes the job, so it cannot
 *   be used). A job put off by its tenant's share or sent back by a throttling relay keeps
 *   `attemptsMade` 0: its wait runs from its first due time, as its citizen sees it;
 * - a retry (`attemptsMade` > 0): BullMQ keeps no due time for it (the failed attempt's end is not
 *   stored, its backoff sits in `delay` only until promotion zeroes it, and `processedOn` is
 *   overwritten by this start), so the process that ran the failed attempt remembers it
 *   (`retryDue`: its end plus BullMQ's backoff, `job.delay` in the `failed` event); a retry taken
 *   by another process is not observed;
 * - a failed job retried by an operator (`attemptsMade` reset to 0, its stack trace kept): not
 *   observed, as its due time (the operator's retry) is not stored either.
 */
export function dueAt(
  job: Pick<Job, 'attemptsMade' | 'timestamp' | 'opts' | 'stacktrace'>,
  retryDue: number | undefined,
): number | undefined {
  if (job.attemptsMade > 0) return retryDue;
  if (job.stacktrace && job.stacktrace.length > 0) return undefined;
  return job.timestamp + (job.opts.delay ?? 0);
}

/**
 * Counts each attempt's wait (due → its processor starts) and run (start → end, completed or
 * failed; a throttled attempt is neither) in memory: a few map updates per job, no Redis command
 * (job-timings.ts). Adds them to Redis {@link TIMINGS_FLUSH_MS} after the first unsent one (so
 * at most about once a second, and never while idle) and when the workers close.
 */
export function timeJobs(runner: JobRunner, { deps, logger }: { deps: WorkerDeps; logger: Logger }) {
  const timings = new JobTimings();
  const retries = new Map<string, number>();
  const queues = new Map<QueueName, ReturnType<WorkerDeps['queues']['getQueue']>>();
  const queueOf = (name: QueueName) => {
    let queue = queues.get(name);
    if (!queue) queues.set(name, (queue = deps.queues.getQueue(name)));
    return queue;
  };
  let timer: NodeJS.Timeout | undefined;
  let failing = false;
  const flush = async () => {
    clearTimeout(timer);
    timer = undefined;
    try {
      await deps.queues.store.flushJobTimings(timings);
      if (failing) logger.info('job timings added to Redis again');
      failing = false;
    } catch (error) {
      if (!failing) logger.warn({ err: errorSummary(error) }, 'could not add the job timings to Redis; kept for the next try');
      failing = true;
    }
    if (timings.size > 0) schedule();
  };
  const schedule = () => {
    if (timer) return;
    timer = setTimeout(() => void flush(), TIMINGS_FLUSH_MS);
    timer.unref();
  };
  runner.on('attemptStarted', (name, job, tenant) => {
    const now = Date.now();
    let retryDue: number | undefined;
    if (job.attemptsMade > 0) {
      const id = `${name}\n${job.id}`;
      retryDue = retries.get(id);
      retries.delete(id);
    }
    const due = dueAt(job, retryDue);
    if (due === undefined) return;
    timings.observe(queueOf(name), 'wait', job.name, tenant, now - due, now);
    schedule();
  });
  runner.on('attemptEnded', (name, outcome, durationMs, job, tenant) => {
    if (outcome === 'throttled') return;
    timings.observe(queueOf(name), outcome, job.name, tenant, durationMs);
    schedule();
  });
  // BullMQ's `failed` comes once the job is back in Redis: with `finishedOn` when it failed for
  // good, else retried after `delay` (its backoff; 0: at once).
  runner.on('jobFailed', (job) => {
    if (!job || job.finishedOn) return;
    const id = `${job.queueName}\n${job.id}`;
    retries.delete(id);
    retries.set(id, Date.now() + (job.delay > 0 ? job.delay : 0));
    if (retries.size > MAX_REMEMBERED_RETRIES) retries.delete(retries.keys().next().value!);
  });
  return {
    stop: async () => {
      clearTimeout(timer);
      await flush();
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
