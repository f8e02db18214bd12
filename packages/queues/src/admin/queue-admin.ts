import type { Job, Queue } from 'bullmq';
import type { QueueClient } from '../client';
import { isQueueName, QUEUE_NAMES, type QueueName } from '../registry';

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
  /** For a single job also BullMQ's other states (`waiting-children`, `unknown`). */
  state: JobState | string;
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

/** What a live view shows of a queue besides its counts. */
export interface QueueActivity {
  name: QueueName;
  paused: boolean;
  /** Workers connected to the queue (BullMQ names their Redis connections). */
  workers: number;
  /** BullMQ's metrics counters: jobs completed / failed for good since the metrics began. */
  completedTotal: number;
  failedTotal: number;
  /** When the oldest job still in the waiting list was added (ms since the epoch), or null. */
  oldestWaitingSince: number | null;
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

/**
 * The errors the admin throws, so each surface can give them its own shape (the queues-ui answers
 * them as HTTP errors, the CLI as messages and exit codes).
 */
export interface QueueAdminErrors {
  unknownQueue(name: string, known: readonly string[]): Error;
  unknownScheduler(id: string, known: readonly string[]): Error;
  ambiguousScheduler(id: string, queues: readonly string[]): Error;
}

/** A queue name the registry does not declare. */
export class UnknownQueueError extends Error {
  override name = 'UnknownQueueError';
  constructor(
    readonly queue: string,
    readonly known: readonly string[],
  ) {
    super(`unknown queue "${queue}"; known queues: ${known.join(', ')}`);
  }
}

export class UnknownSchedulerError extends Error {
  override name = 'UnknownSchedulerError';
  constructor(
    readonly id: string,
    readonly known: readonly string[],
  ) {
    super(`unknown job scheduler "${id}"${known.length > 0 ? `; known: ${known.join(', ')}` : ''}`);
  }
}

/** Two queues hold a scheduler with the same id; the caller must say which one. */
export class AmbiguousSchedulerError extends Error {
  override name = 'AmbiguousSchedulerError';
  constructor(
    readonly id: string,
    readonly queues: readonly string[],
  ) {
    super(`job scheduler "${id}" exists in several queues (${queues.join(', ')}); name the queue`);
  }
}

const defaultErrors: QueueAdminErrors = {
  unknownQueue: (name, known) => new UnknownQueueError(name, known),
  unknownScheduler: (id, known) => new UnknownSchedulerError(id, known),
  ambiguousScheduler: (id, queues) => new AmbiguousSchedulerError(id, queues),
};

/** How many failed jobs one retry pass reads. */
const RETRY_PAGE = 200;

/** How many jobs one clean pass may remove: one Lua call, so Redis is blocked while it runs (1000 per pass stalled concurrent enqueues for 125 ms in bench:scale; 250 stays well under 100 ms). */
const CLEAN_BATCH = 250;

/**
 * What operators can see and do with the queues, on top of the producer-side {@link QueueClient}.
 * It never processes jobs (no Worker is ever created here).
 */
export class QueueAdmin {
  private readonly errors: QueueAdminErrors;

  constructor(
    private readonly client: QueueClient,
    options: { errors?: QueueAdminErrors } = {},
  ) {
    this.errors = options.errors ?? defaultErrors;
  }

  readonly names: readonly QueueName[] = QUEUE_NAMES;

  /** The BullMQ queue of a registered name, or a 404 listing the known ones. */
  queue(name: string): Queue {
    if (!isQueueName(name)) throw this.errors.unknownQueue(name, QUEUE_NAMES);
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

  /** One job with its current state, or null when Redis holds no job with this id. */
  async job(name: string, id: string): Promise<JobView | null> {
    const job = await this.queue(name).getJob(id);
    if (!job) return null;
    const state = await job.getState();
    return jobView(job, state);
  }

  /**
   * Moves one failed job back to waiting with its attempt count reset (as {@link retryFailed} does
   * for all). Returns false when the job is not failed; null when it does not exist.
   */
  async retryJob(name: string, id: string): Promise<boolean | null> {
    const job = await this.queue(name).getJob(id);
    if (!job) return null;
    if ((await job.getState()) !== 'failed') return false;
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return true;
  }

  /**
   * Removes the jobs waiting to run (waiting and prioritized; delayed, active and finished jobs
   * stay). Returns how many fewer jobs are waiting afterwards.
   */
  async drain(name: string): Promise<number> {
    const queue = this.queue(name);
    const before = await queue.getJobCountByTypes('waiting', 'prioritized');
    await queue.drain(false);
    const after = await queue.getJobCountByTypes('waiting', 'prioritized');
    return Math.max(0, before - after);
  }

  /**
   * Whether a worker of this queue has something to take now: the queue is not paused and a job
   * is waiting, prioritized, or delayed and due.
   */
  async hasWorkDue(name: string, now = Date.now()): Promise<boolean> {
    const queue = this.queue(name);
    if (await queue.isPaused()) return false;
    if ((await queue.getJobCountByTypes('waiting', 'prioritized')) > 0) return true;
    const due = await this.client.store.nextDelayedAt(queue);
    return due !== null && due <= now;
  }

  async activity(name: string): Promise<QueueActivity> {
    const queue = this.queue(name);
    const [paused, workers, completed, failed, [oldest]] = await Promise.all([
      queue.isPaused(),
      queue.getWorkersCount(),
      queue.getMetrics('completed', 0, 0),
      queue.getMetrics('failed', 0, 0),
      queue.getJobs(['waiting'], 0, 0, true),
    ]);
    return {
      name: name as QueueName,
      paused,
      workers,
      completedTotal: completed.meta.count,
      failedTotal: failed.meta.count,
      oldestWaitingSince: oldest?.timestamp ?? null,
    };
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
        return schedulers.map((scheduler): SchedulerView => ({
          id: scheduler.id ?? scheduler.key,
          queue: name,
          name: scheduler.name,
          pattern: scheduler.pattern ?? null,
          every: scheduler.every ?? null,
          tz: scheduler.tz ?? null,
          next: scheduler.next === undefined || scheduler.next === null ? null : new Date(Number(scheduler.next)).toISOString(),
        }));
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
      await Promise.all(candidates.map(async (name) => ({ name, scheduler: await this.client.getQueue(name).getJobScheduler(id) })))
    ).filter((entry) => entry.scheduler !== undefined && entry.scheduler !== null);
    if (found.length === 0) {
      throw this.errors.unknownScheduler(
        id,
        (await this.schedulers()).map((scheduler) => `${scheduler.queue}/${scheduler.id}`),
      );
    }
    if (found.length > 1) {
      throw this.errors.ambiguousScheduler(
        id,
        found.map((entry) => entry.name),
      );
    }
    const { name, scheduler } = found[0]!;
    const job = await this.client.getQueue(name).add(scheduler!.name, scheduler!.template?.data ?? {}, scheduler!.template?.opts ?? {});
    return { queue: name, jobId: job.id! };
  }
}

function jobView(job: Job, state: JobState | string): JobView {
  return {
    id: job.id,
    name: job.name,
    state,
    data: job.data,
    attemptsMade: job.attemptsMade,
    failedReason: job.failedReason ?? null,
    stacktrace: job.stacktrace ?? [],
    timestamp: job.timestamp,
    processedOn: job.processedOn ?? null,
    finishedOn: job.finishedOn ?? null,
    delay: job.delay,
    priority: job.priority,
  };
}
