import type { Job, Queue } from 'bullmq';
import { connectionOf, type QueueClient } from '../client';
import { isQueueName, QUEUE_NAMES, type QueueName } from '../registry';
import { histogramQuantile, type TimingSeries } from '../job-timings';
import type { TenantOutcome } from '../tenant-metrics';
import type { BreakerView } from '../breakers';
import { readQueueWait, type QueueWait } from './queue-wait';
import { stateIdPages, tenantsOfJobIds } from './tenant-jobs';

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

/** The minutes of waits `ceres-jobs stats` reads: the current minute and the 14 before it. */
export const RECENT_WAIT_MINUTES = 15;

/** How long the jobs that started in a window waited (due → started). */
export interface WaitSummary {
  /** Attempts started in the window (as the workers flushed them, about once a second). */
  started: number;
  /** The 95th percentile wait in seconds, estimated from the histogram's buckets; null when none started. */
  p95Seconds: number | null;
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
  /** When the oldest job due and not started became due (ms since the epoch; see {@link QueueWait}), or null. */
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

/** How many job ids one pass of a per-tenant count, listing, retry or drain reads. */
const TENANT_PAGE = 500;

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

  /** The producer's Redis connection, for the reads BullMQ's Queue has no method for (a job's tenant, ZSCAN). */
  private get redis() {
    return connectionOf(this.client);
  }

  /** The BullMQ queue of a registered name, or a 404 listing the known ones. */
  queue(name: string): Queue {
    if (!isQueueName(name)) throw this.errors.unknownQueue(name, QUEUE_NAMES);
    return this.client.getQueue(name);
  }

  /**
   * The queue's counts per state; with `tenant`, of that tenant's jobs only: every job id of each
   * state is read page by page and its tenant told from the id or the job's data (see
   * {@link tenantCounts}), a cost in proportion to the jobs Redis holds.
   */
  async stats(name: string, tenant?: string): Promise<QueueStats> {
    const counts = tenant === undefined ? await this.queue(name).getJobCounts(...JOB_STATES) : await this.tenantCounts(name, tenant);
    const stats = { name: name as QueueName } as QueueStats;
    let total = 0;
    for (const state of JOB_STATES) {
      stats[state] = counts[state] ?? 0;
      total += stats[state];
    }
    return { ...stats, total };
  }

  /** The circuit breakers of the worker's SMTP relays and Slack webhooks that ever counted a failure (breakers.ts). */
  breakers(): Promise<BreakerView[]> {
    return this.client.store.breakers();
  }

  async allStats(tenant?: string): Promise<Record<QueueName, QueueStats>> {
    const all = await Promise.all(this.names.map((name) => this.stats(name, tenant)));
    return Object.fromEntries(all.map((stats) => [stats.name, stats])) as Record<QueueName, QueueStats>;
  }

  /**
   * How many jobs of `tenant` each state of the queue holds: the state's ids page by page
   * ({@link TENANT_PAGE}), the tenant told by a scoped id (`acme@…`) or, for ids BullMQ numbered,
   * by the job's `$tenant`.
   */
  async tenantCounts(name: string, tenant: string): Promise<Record<JobState, number>> {
    const queue = this.queue(name);
    const counts = Object.fromEntries(JOB_STATES.map((state) => [state, 0])) as Record<JobState, number>;
    for (const state of JOB_STATES) {
      for await (const ids of stateIdPages(queue, state, TENANT_PAGE)) {
        counts[state] += (await tenantsOfJobIds(this.redis, queue, ids)).filter((owner) => owner === tenant).length;
      }
    }
    return counts;
  }

  /**
   * The jobs waiting to run (waiting and prioritized) per tenant: every id of both, page by page
   * ({@link TENANT_PAGE}), the data read only for ids BullMQ numbered. A cost in proportion to the
   * jobs waiting: the metrics read it at most every `METRICS_TENANT_SCAN_MS`.
   */
  async waitingPerTenant(name: string): Promise<Map<string, number>> {
    const queue = this.queue(name);
    const counts = new Map<string, number>();
    for (const state of ['waiting', 'prioritized'] as const) {
      for await (const ids of stateIdPages(queue, state, TENANT_PAGE)) {
        for (const tenant of await tenantsOfJobIds(this.redis, queue, ids)) {
          if (tenant !== undefined) counts.set(tenant, (counts.get(tenant) ?? 0) + 1);
        }
      }
    }
    return counts;
  }

  /** The jobs of the queue completed or failed for good per tenant, as the workers counted them (tenant-metrics.ts). */
  tenantOutcomes(name: string, outcome: TenantOutcome): Promise<Map<string, number>> {
    return this.client.store.tenantCounts(this.queue(name), outcome);
  }

  /** Every wait and run time series of the queue, as the workers counted them (job-timings.ts). */
  jobTimings(name: string): Promise<TimingSeries[]> {
    return this.client.store.jobTimings(this.queue(name));
  }

  /** The waits of the jobs of the queue that started in the current minute and the `minutes - 1` before it. */
  async recentWait(name: string, minutes = RECENT_WAIT_MINUTES, now = Date.now()): Promise<WaitSummary> {
    const current = Math.floor(now / 60_000);
    const buckets = await this.client.store.waitWindow(this.queue(name), 'minute', current - minutes + 1, current);
    return { started: buckets.reduce((sum, count) => sum + count, 0), p95Seconds: histogramQuantile(0.95, buckets) };
  }

  /** Redis's `used_memory` in bytes (INFO memory). */
  redisMemoryUsed(): Promise<number> {
    return this.client.store.memoryUsed();
  }

  /**
   * Jobs of one state, positions `start..end` inclusive, newest first; with `tenant`, positions
   * among that tenant's jobs (the state read page by page, one page in memory; `total` is the
   * tenant's count in that state).
   */
  async jobs(name: string, state: JobState, start: number, end: number, tenant?: string): Promise<{ total: number; jobs: JobView[] }> {
    const queue = this.queue(name);
    if (tenant !== undefined) {
      let total = 0;
      const wanted: string[] = [];
      for await (const ids of stateIdPages(queue, state, TENANT_PAGE)) {
        const owners = await tenantsOfJobIds(this.redis, queue, ids);
        ids.forEach((id, index) => {
          if (owners[index] !== tenant) return;
          if (total >= start && total <= end) wanted.push(id);
          total += 1;
        });
      }
      const found = await Promise.all(wanted.map((id) => queue.getJob(id)));
      return { total, jobs: found.filter((job): job is Job => Boolean(job)).map((job) => jobView(job, state)) };
    }
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
   * stay). Returns how many fewer jobs are waiting afterwards. With `tenant`, removes that
   * tenant's only, job by job (see {@link drainTenant}), and returns how many it removed.
   */
  async drain(name: string, tenant?: string): Promise<number> {
    if (tenant !== undefined) return this.drainTenant(name, tenant);
    const queue = this.queue(name);
    const before = await queue.getJobCountByTypes('waiting', 'prioritized');
    await queue.drain(false);
    const after = await queue.getJobCountByTypes('waiting', 'prioritized');
    return Math.max(0, before - after);
  }

  /**
   * Removes the waiting and prioritized jobs of `tenant`, a page of ids at a time: the prioritized
   * set by ZSCAN (which misses no member present from its start to its end), the waiting list by
   * position from its newest end (a worker takes from the other end). Jobs added while it runs
   * may be left; a job a worker took meanwhile is not removed (BullMQ refuses a locked job).
   */
  private async drainTenant(name: string, tenant: string): Promise<number> {
    const queue = this.queue(name);
    const redis = this.redis;
    let removed = 0;
    const removeOwned = async (ids: string[]) => {
      const owners = await tenantsOfJobIds(this.redis, queue, ids);
      let gone = 0;
      for (const [index, id] of ids.entries()) {
        if (owners[index] !== tenant) continue;
        if ((await queue.remove(id)) === 1) gone += 1;
      }
      removed += gone;
      return gone;
    };
    let cursor = '0';
    do {
      const [next, entries] = await redis.zscan(queue.toKey('prioritized'), cursor, 'COUNT', TENANT_PAGE);
      cursor = next;
      await removeOwned(entries.filter((_, index) => index % 2 === 0));
    } while (cursor !== '0');
    // New jobs enter at position 0 and push the rest on: the walk is bounded by the list's length
    // at the start, so a steady stream of new jobs cannot keep it going.
    const budget = (await redis.llen(queue.toKey('wait'))) + TENANT_PAGE;
    for (let position = 0, read = 0; read < budget;) {
      const ids = await redis.lrange(queue.toKey('wait'), position, position + TENANT_PAGE - 1);
      if (ids.length === 0) break;
      read += ids.length;
      position += ids.length - (await removeOwned(ids));
    }
    return removed;
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

  /** How long the queue's jobs have been waiting, and whether anything takes them (queue-wait.ts). */
  wait(name: string, now = Date.now()): Promise<QueueWait> {
    return readQueueWait(this.redis, name as QueueName, this.queue(name), now);
  }

  /** The workers BullMQ sees connected to the queue (one CLIENT LIST). */
  workers(name: string): Promise<number> {
    return this.queue(name).getWorkersCount();
  }

  async activity(name: string): Promise<QueueActivity> {
    const queue = this.queue(name);
    const now = Date.now();
    const [paused, workers, completed, failed, wait] = await Promise.all([
      queue.isPaused(),
      queue.getWorkersCount(),
      queue.getMetrics('completed', 0, 0),
      queue.getMetrics('failed', 0, 0),
      this.wait(name, now),
    ]);
    return {
      name: name as QueueName,
      paused,
      workers,
      completedTotal: completed.meta.count,
      failedTotal: failed.meta.count,
      oldestWaitingSince: wait.due === 0 ? null : now - wait.oldestWaitingMs,
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
  async retryFailed(name: string, tenant?: string): Promise<number> {
    if (tenant !== undefined) return this.retryTenantFailed(name, tenant);
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

  /**
   * {@link retryFailed} for the failed jobs of `tenant` only: the failed set read by ZSCAN, a page
   * of ids at a time (which misses no job failed from its start to its end), the others' left.
   * Each job is retried once per call even if it fails again meanwhile.
   */
  private async retryTenantFailed(name: string, tenant: string): Promise<number> {
    const queue = this.queue(name);
    const redis = this.redis;
    const retriedIds = new Set<string>();
    let cursor = '0';
    do {
      const [next, entries] = await redis.zscan(queue.toKey('failed'), cursor, 'COUNT', TENANT_PAGE);
      cursor = next;
      const ids = entries.filter((entry, index) => index % 2 === 0 && !retriedIds.has(entry));
      const owners = await tenantsOfJobIds(this.redis, queue, ids);
      const owned = ids.filter((_, index) => owners[index] === tenant);
      const jobs = (await Promise.all(owned.map((id) => queue.getJob(id)))).filter((job): job is Job => Boolean(job));
      const results = await Promise.allSettled(
        jobs.map((job) => job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })),
      );
      results.forEach((result, index) => {
        if (result.status === 'fulfilled') retriedIds.add(jobs[index]!.id!);
      });
    } while (cursor !== '0');
    return retriedIds.size;
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
