import { maskEmails } from '@ceres/app-kit';
import { maskJobData } from '../board-formatters';
import { isQueueName, QUEUE_NAMES, type QueueClient, type QueueName } from '@ceres/queues';
import type { Job, Queue } from 'bullmq';
import { AmbiguousSchedulerError, UnknownQueueError, UnknownSchedulerError } from '../errors';

/** The states the admin API lists and counts, in BullMQ's own words (`waiting` is its `wait` list). */
// BullMQ 6 has no 'paused' job state: the jobs of a paused queue wait in 'waiting'.
export const JOB_STATES = ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** The states `clean` accepts: only finished jobs are removed, never work still to do. */
export const CLEANABLE_STATES = ['completed', 'failed'] as const;
export type CleanableState = (typeof CLEANABLE_STATES)[number];

export interface QueueStats {
  name: QueueName;
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  delayed: number;
  prioritized: number;
  total: number;
}

export interface JobView {
  id: string | undefined;
  name: string;
  state: JobState;
  data: unknown;
  attemptsMade: number;
  failedReason: string | null;
  stacktrace: string[];
  /** When the job was added, first taken by a worker, and finished (ms since the epoch). */
  timestamp: number;
  processedOn: number | null;
  finishedOn: number | null;
  delay: number;
  priority: number;
}

export interface SchedulerView {
  id: string;
  queue: QueueName;
  /** The job name each run gets. */
  name: string;
  pattern: string | null;
  every: number | null;
  tz: string | null;
  /** The next run, ISO 8601; null when the scheduler has no pending run. */
  next: string | null;
}

/** How many failed jobs one retry pass reads. */
const RETRY_PAGE = 200;

/** How many jobs one clean pass may remove: a bounded Lua call never blocks Redis for long. */
const CLEAN_BATCH = 1000;

/**
 * What operators can see and do with the queues, on top of the producer-side {@link QueueClient}.
 * It never processes jobs (no Worker is ever created here).
 */
export class QueueAdmin {
  constructor(private readonly client: QueueClient) {}

  readonly names: readonly QueueName[] = QUEUE_NAMES;

  /** The BullMQ queue of a registered name, or a 404 listing the known ones. */
  queue(name: string): Queue {
    if (!isQueueName(name)) throw new UnknownQueueError(name, QUEUE_NAMES);
    return this.client.getQueue(name);
  }

  async stats(name: string): Promise<QueueStats> {
    const counts = await this.queue(name).getJobCounts(...JOB_STATES);
    const stats = { name: name as QueueName } as QueueStats;
    let total = 0;
    for (const state of JOB_STATES) {
      stats[state] = counts[state] ?? 0;
      total += stats[state];
    }
    return { ...stats, total };
  }

  async allStats(): Promise<Record<QueueName, QueueStats>> {
    const all = await Promise.all(this.names.map((name) => this.stats(name)));
    return Object.fromEntries(all.map((stats) => [stats.name, stats])) as Record<QueueName, QueueStats>;
  }

  /** Jobs of one state, positions `start..end` inclusive, newest first. */
  async jobs(name: string, state: JobState, start: number, end: number): Promise<{ total: number; jobs: JobView[] }> {
    const queue = this.queue(name);
    const [jobs, total] = await Promise.all([queue.getJobs([state], start, end, false), queue.getJobCountByTypes(state)]);
    // A listed job can be removed between the two reads; getJobs then yields a hole.
    return { total, jobs: jobs.filter((job): job is Job => Boolean(job)).map((job) => jobView(job, state)) };
  }

  async pause(name: string): Promise<void> {
    await this.queue(name).pause();
  }

  async resume(name: string): Promise<void> {
    await this.queue(name).resume();
  }

  async isPaused(name: string): Promise<boolean> {
    return this.queue(name).isPaused();
  }

  /**
   * Removes jobs of `state` that finished more than `gracePeriodMs` ago, in bounded passes, up to
   * `limit` jobs (all of them when absent). Returns how many were removed.
   */
  async clean(name: string, state: CleanableState, gracePeriodMs: number, limit?: number): Promise<number> {
    const queue = this.queue(name);
    let removed = 0;
    for (;;) {
      const batch = limit === undefined ? CLEAN_BATCH : Math.min(CLEAN_BATCH, limit - removed);
      if (batch <= 0) break;
      const ids = await queue.clean(gracePeriodMs, batch, state);
      removed += ids.length;
      if (ids.length < batch) break;
    }
    return removed;
  }

  /**
   * Moves every failed job of the queue back to waiting with its attempt count reset, so it runs
   * with the queue's whole retry schedule again (BullMQ `job.retry('failed', { resetAttemptsMade,
   * resetAttemptsStarted })`); returns how many were retried.
   */
  async retryFailed(name: string): Promise<number> {
    const queue = this.queue(name);
    const total = await queue.getFailedCount();
    const seen = new Set<string>();
    let retried = 0;
    // Retried jobs leave the failed set, so the head of the set is always the next page; jobs
    // failing meanwhile are left for the next call rather than chased forever.
    while (seen.size < total) {
      const page = (await queue.getFailed(0, RETRY_PAGE - 1)).filter((job): job is Job => Boolean(job) && !seen.has(job.id!));
      if (page.length === 0) break;
      page.forEach((job) => seen.add(job.id!));
      const results = await Promise.allSettled(
        page.map((job) => job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })),
      );
      // A job retried or removed by someone else in between is skipped, not an error.
      retried += results.filter((result) => result.status === 'fulfilled').length;
    }
    return retried;
  }

  async schedulers(): Promise<SchedulerView[]> {
    const perQueue = await Promise.all(
      this.names.map(async (name) => {
        const schedulers = await this.client.getQueue(name).getJobSchedulers(0, -1, true);
        return schedulers.map(
          (scheduler): SchedulerView => ({
            id: scheduler.id ?? scheduler.key,
            queue: name,
            name: scheduler.name,
            pattern: scheduler.pattern ?? null,
            every: scheduler.every ?? null,
            tz: scheduler.tz ?? null,
            next: scheduler.next === undefined || scheduler.next === null ? null : new Date(Number(scheduler.next)).toISOString(),
          }),
        );
      }),
    );
    return perQueue.flat();
  }

  /**
   * Adds one job now from a scheduler's template (its name, data and options); the schedule
   * itself and its pending run stay as they are. `queue` picks among schedulers sharing an id.
   */
  async runScheduler(id: string, queueName?: string): Promise<{ queue: QueueName; jobId: string }> {
    const candidates = queueName === undefined ? this.names : [this.queue(queueName).name as QueueName];
    const found = (
      await Promise.all(
        candidates.map(async (name) => ({ name, scheduler: await this.client.getQueue(name).getJobScheduler(id) })),
      )
    ).filter((entry) => entry.scheduler !== undefined && entry.scheduler !== null);
    if (found.length === 0) {
      throw new UnknownSchedulerError(id, (await this.schedulers()).map((scheduler) => `${scheduler.queue}/${scheduler.id}`));
    }
    if (found.length > 1) {
      throw new AmbiguousSchedulerError(id, found.map((entry) => entry.name));
    }
    const { name, scheduler } = found[0]!;
    const job = await this.client.getQueue(name).add(scheduler!.name, scheduler!.template?.data ?? {}, scheduler!.template?.opts ?? {});
    return { queue: name, jobId: job.id! };
  }
}

function jobView(job: Job, state: JobState): JobView {
  return {
    id: job.id,
    name: job.name,
    state,
    // Masked as on Bull Board's pages (board-formatters.ts).
    data: maskJobData(job.queueName as QueueName)(job.data),
    attemptsMade: job.attemptsMade,
    failedReason: job.failedReason ? maskEmails(job.failedReason) : null,
    stacktrace: (job.stacktrace ?? []).map((line) => maskEmails(line)),
    timestamp: job.timestamp,
    processedOn: job.processedOn ?? null,
    finishedOn: job.finishedOn ?? null,
    delay: job.delay,
    priority: job.priority,
  };
}
