import {
  createRedisConnection,
  jobTimeoutMs,
  parsePayload,
  PayloadValidationError,
  QUEUE_NAMES,
  queueLimiter,
  registry,
  workerSettings,
  type QueueName,
} from '@ceres/queues';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ActivityLog } from './activity-log';
import { ABORT_GRACE_MS, untilDeadline } from './attempt-deadline';
import { startStallWatchdog } from './stall-watchdog';
import { decryptedJob } from './decrypt-job';
import type { WorkerConfig } from './config';
import type { DeadLetters } from './dead-letters';
import { TOP_LEVEL_REDACT_PATHS } from './deps/logger';
import type { WorkerDeps } from './deps';
import type { AttemptContext, PartialProcessorMap } from './processors';
import { errorSummary } from './redact';
import { findThrottled } from './throttled-error';
import { RedisOutage } from './redis-outage';
import type { LeftJob } from './stop';

/** Bounds a back-pressure pause, whatever a peer asked for. */
export const MAX_PAUSE_MS = 15 * 60_000;

/** The attempt outlived its queue's `timeoutMs`; it is aborted and counts as a failed attempt. */
export class JobTimeoutError extends Error {
  override name = 'JobTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`job timed out after ${timeoutMs} ms`);
  }
}

export interface RunnerOptions {
  config: WorkerConfig;
  deps: WorkerDeps;
  logger: Logger;
  processors: PartialProcessorMap;
  deadLetters: DeadLetters;
  /**
   * The attempt timeout of a job type. Embedders and tests may shorten it; the worker uses the
   * registry's declaration.
   * @defaultValue `jobTimeoutMs` from `@ceres/queues` (the registry's `timeoutMs`)
   */
  timeoutFor?: (queue: QueueName, job: string) => number;
  /**
   * A worker stayed stalled after a rebuild (see stall-watchdog.ts).
   * @defaultValue logs only; `main.ts` exits non-zero so PM2 restarts the process
   */
  onStall?: (queue: QueueName) => void;
  /** Consume only these queues (the CLI's `work --queue`). @defaultValue every consumable queue */
  queues?: readonly QueueName[];
  /** At most this many jobs at once per queue, below the registry's concurrency (the CLI's `work --once`). */
  maxConcurrency?: number;
}

export interface Runner {
  /** The queues consumed by this process. */
  readonly queues: QueueName[];
  readonly workers: ReadonlyMap<QueueName, Worker>;
  /** Resolves once every worker is connected and taking jobs. */
  ready(): Promise<void>;
  /**
   * Stops taking jobs and waits for the active ones (`force`: aborts them instead, leaving them to
   * the stalled-job check of another worker), then closes the Redis connections.
   */
  close(force?: boolean): Promise<void>;
  /** The jobs whose processor runs now. */
  activeJobs(): LeftJob[];
  /** Whether the workers' Redis connections are down (logged once per outage). */
  readonly outage: RedisOutage;
  /** Drops every worker connection at once, without waiting for Redis (a stop during an outage). */
  abandon(): void;
}

/** The queues whose every job type has a processor; the others are not consumed at all. */
export function consumableQueues(processors: PartialProcessorMap): { consumed: QueueName[]; skipped: Array<{ queue: QueueName; missing: string[] }> } {
  const consumed: QueueName[] = [];
  const skipped: Array<{ queue: QueueName; missing: string[] }> = [];
  for (const queue of QUEUE_NAMES) {
    const mapped = (processors[queue] ?? {}) as Record<string, AnyProcessor | undefined>;
    const missing = Object.keys(registry[queue].jobs).filter((job) => typeof mapped[job] !== 'function');
    if (missing.length === 0) consumed.push(queue);
    else skipped.push({ queue, missing });
  }
  return { consumed, skipped };
}

/** One BullMQ Worker per consumable queue, each with its own connection and the registry's settings. */
export function startWorkers({ config, deps, logger, processors, deadLetters, timeoutFor = jobTimeoutMs, onStall = () => {}, queues: only, maxConcurrency = Infinity }: RunnerOptions): Runner {
  const { consumed: consumable, skipped } = consumableQueues(processors);
  const consumed = only === undefined ? consumable : consumable.filter((queue) => only.includes(queue));
  for (const { queue, missing } of skipped) {
    logger.warn({ queue, missing }, 'queue not consumed by this worker: some job types have no processor');
  }
  const active = new Set<Attempt>();
  const workers = new Map<QueueName, Worker>();
  const connections = new Map<QueueName, Redis>();
  const lastJobStart = new Map<QueueName, number>();
  const workerStart = new Map<QueueName, number>();
  const activePerQueue = new Map<QueueName, number>();
  const Attempt = attemptClass(logger);
  const activity = new ActivityLog(logger, config.activityLogMs);
  activity.start();
  const outage = new RedisOutage(logger);

  const run = async (job: Job): Promise<unknown> => {
    const queue = job.queueName as QueueName;
    const attempt = new Attempt(job);
    const processor = (processors[queue] as Record<string, AnyProcessor | undefined> | undefined)?.[job.name];
    if (!processor) throw new UnrecoverableError(`no processor for job type ${queue}/${job.name}`);
    let plain: Job;
    try {
      plain = decryptedJob(job, config.queues.keyring);
    } catch (error) {
      attempt.logger.warn({ err: errorSummary(error) }, 'payload does not decrypt; failing without retry');
      throw error;
    }
    try {
      parsePayload(queue, job.name, plain.data);
    } catch (error) {
      // A payload that does not match its schema never will: fail at once, no retries.
      if (error instanceof PayloadValidationError) {
        attempt.logger.warn({ issues: error.issues }, 'invalid payload; failing without retry');
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
    const timeoutMs = timeoutFor(queue, job.name);
    active.add(attempt);
    lastJobStart.set(queue, Date.now());
    activePerQueue.set(queue, (activePerQueue.get(queue) ?? 0) + 1);
    const timer = setTimeout(() => attempt.abort(new JobTimeoutError(timeoutMs)), timeoutMs);
    const started = Date.now();
    attempt.log('debug', {}, 'job started');
    try {
      // Ends at the timeout even when a processor ignores the signal (after a short grace).
      const result = await untilDeadline(processor(plain, deps, attempt), attempt.aborted, Math.min(ABORT_GRACE_MS, timeoutMs));
      const durationMs = Date.now() - started;
      attempt.log('debug', { durationMs }, 'job completed');
      activity.record(queue, 'completed', durationMs);
      return result;
    } catch (error) {
      const durationMs = Date.now() - started;
      const throttled = findThrottled(error);
      if (throttled) {
        const pauseMs = Math.min(Math.max(Math.round(throttled.retryAfterMs), 1), MAX_PAUSE_MS);
        let paused = true;
        // The pause is the queue's limiter key in Redis: every worker process honours it.
        await deps.queues
          .getQueue(queue)
          .rateLimit(pauseMs)
          .catch((pauseError: unknown) => {
            paused = false;
            attempt.log('warn', { pauseErr: errorSummary(pauseError) }, 'could not pause the throttled queue');
          });
        if (paused) {
          attempt.log('warn', { durationMs, pauseMs, err: errorSummary(throttled) }, 'peer throttled: queue paused, job back to wait (no attempt used)');
          // BullMQ moves the job back to wait, without a failed event and with its attempts as they were.
          throw Worker.RateLimitError();
        }
        // Redis refused the pause: an ordinary failed attempt below, so the job waits on its
        // schedule instead of being taken again at once.
      }
      attempt.log('warn', { durationMs, err: errorSummary(error) }, 'job attempt failed');
      activity.record(queue, 'failed', durationMs);
      throw error;
    } finally {
      clearTimeout(timer);
      active.delete(attempt);
      activePerQueue.set(queue, activePerQueue.get(queue)! - 1);
    }
  };

  const createWorker = (queue: QueueName): void => {
    const connection = createRedisConnection(config.queues, 'worker', {
      connectionName: `ceres-worker-${queue}`,
      onWarning: (message) => logger.warn({ queue }, message),
    });
    connections.set(queue, connection);
    outage.watch(connection);
    workerStart.set(queue, Date.now());
    const worker = new Worker(queue, run, {
      ...workerSettings,
      connection,
      prefix: config.queues.bullPrefix,
      concurrency: Math.min(registry[queue].concurrency, maxConcurrency),
      // A killed worker's jobs keep their lock until it expires; the stalled check of any other
      // worker then puts them back to wait (once; a second stall fails the job).
      lockDuration: config.lockDurationMs,
      stalledInterval: config.stalledIntervalMs,
      maxStalledCount: 1,
      // BullMQ keeps the limiter in Redis, so the rate, and a back-pressure pause, hold across
      // every worker process; a queue without a rate still gets one that only pauses.
      limiter: queueLimiter(config.rates[queue]),
    });
    worker.on('failed', (job, error) => void deadLetters.onFailed(job, error));
    worker.on('error', (error) => outage.absorb(error) || logger.error({ queue, err: errorSummary(error) }, 'worker error'));
    workers.set(queue, worker);
  };
  for (const queue of consumed) createWorker(queue);

  let closing: Promise<void> | undefined;
  const watchdog = startStallWatchdog({
    queues: consumed,
    intervalMs: config.stallCheckMs,
    logger,
    lastJobStart: (queue) => lastJobStart.get(queue) ?? 0,
    workerStart: (queue) => workerStart.get(queue) ?? 0,
    hasFreeSlot: (queue) => (activePerQueue.get(queue) ?? 0) < (workers.get(queue)?.concurrency ?? 1),
    limiterMax: (queue) => queueLimiter(config.rates[queue]).max,
    queue: (queue) => deps.queues.getQueue(queue),
    restart: async (queue) => {
      if (closing) return;
      const [worker, connection] = [workers.get(queue), connections.get(queue)];
      createWorker(queue);
      // The old worker has nothing active (the check saw a free slot and no job for an interval).
      await worker?.close(true).catch(() => {});
      connection?.disconnect();
    },
    onStall,
  });
  return {
    queues: consumed,
    workers,
    ready: async () => {
      await Promise.all([...workers.values()].map((worker) => worker.waitUntilReady()));
    },
    activeJobs: () => [...active].map((attempt) => attempt.left),
    outage,
    abandon: () => {
      outage.stop();
      for (const connection of connections.values()) connection.disconnect();
    },
    close: (force = false) => {
      outage.stop();
      if (force) for (const attempt of active) attempt.abort(new Error('worker is shutting down'));
      watchdog.stop();
      closing ??= (async () => {
        await Promise.allSettled([...workers.values()].map((worker) => worker.close(force)));
        await Promise.allSettled([...connections.values()].map((connection) => connection.quit().catch(() => connection.disconnect())));
        activity.stop();
      })();
      if (force) {
        return Promise.allSettled([...workers.values()].map((worker) => worker.close(true))).then(() => closing);
      }
      return closing;
    },
  };
}

/** The context of one attempt, with what the runner needs to end it. */
type Attempt = AttemptContext & {
  /** Settles (rejects) only when the attempt is aborted. */
  readonly aborted: Promise<never>;
  abort(reason: Error): void;
  /** The job's queue and id, for the line of a stop that leaves it to the stalled-job check. */
  readonly left: LeftJob;
  /** Logs one line with the job's fields (queue, job, jobId, attempt) without making a child logger. */
  log(level: 'debug' | 'info' | 'warn', fields: Record<string, unknown>, message: string): void;
};

// The runner re-validates each payload against its job's schema before calling a processor.
type AnyProcessor = (job: Job, deps: WorkerDeps, ctx: AttemptContext) => Promise<unknown>;

/**
 * The class of a runner's attempt contexts. Most processors read neither `logger` nor `signal`,
 * and a child logger or an AbortController costs about as much as a no-op job (bench pair 3), so
 * each is made when first read; a timeout or a forced stop rejects `aborted` either way.
 */
function attemptClass(logger: Logger): new (job: Job) => Attempt {
  // The lines logged here have a fixed shape (the job's fields, a duration, an error summary), so
  // the deep redaction the process logger applies to anything else is not needed on them.
  const lineLogger = logger.child({}, { redact: { paths: TOP_LEVEL_REDACT_PATHS, censor: '[redacted]' } });
  return class AttemptContextOfJob implements Attempt {
    readonly aborted: Promise<never>;
    private controller: AbortController | undefined;
    private reason: Error | undefined;
    private childLogger: Logger | undefined;
    private rejectAborted!: (error: Error) => void;

    constructor(private readonly job: Job) {
      this.aborted = new Promise<never>((_, reject) => (this.rejectAborted = reject));
      this.aborted.catch(() => {});
    }

    private get fields() {
      const job = this.job;
      return { queue: job.queueName, job: job.name, jobId: job.id, attempt: job.attemptsMade + 1 };
    }

    get left(): LeftJob {
      return { queue: this.job.queueName, jobId: String(this.job.id) };
    }

    get logger(): Logger {
      return (this.childLogger ??= logger.child(this.fields));
    }

    get signal(): AbortSignal {
      if (!this.controller) {
        this.controller = new AbortController();
        if (this.reason) this.controller.abort(this.reason);
      }
      return this.controller.signal;
    }

    abort(error: Error): void {
      if (this.reason) return;
      this.reason = error;
      this.controller?.abort(error);
      this.rejectAborted(error);
    }

    log(level: 'debug' | 'info' | 'warn', fields: Record<string, unknown>, message: string): void {
      if (this.childLogger) this.childLogger[level](fields, message);
      else if (lineLogger.isLevelEnabled(level)) lineLogger[level]({ ...this.fields, ...fields }, message);
    }
  };
}
