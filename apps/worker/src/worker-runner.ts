import {
  createRedisConnection,
  jobTimeoutMs,
  parsePayload,
  PayloadValidationError,
  QUEUE_NAMES,
  registry,
  workerSettings,
  type QueueName,
} from '@ceres/queues';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config';
import type { DeadLetters } from './dead-letters';
import type { WorkerDeps } from './deps';
import type { AnyProcessor, ProcessorMap } from './processors';
import { errorSummary } from './redact';

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
  processors: ProcessorMap;
  deadLetters: DeadLetters;
  /**
   * The attempt timeout of a job type. Embedders and tests may shorten it; the worker uses the
   * registry's declaration.
   * @defaultValue `jobTimeoutMs` from `@ceres/queues` (the registry's `timeoutMs`)
   */
  timeoutFor?: (queue: QueueName, job: string) => number;
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
}

/** The queues whose every job type has a processor; the others are not consumed at all. */
export function consumableQueues(processors: ProcessorMap): { consumed: QueueName[]; skipped: Array<{ queue: QueueName; missing: string[] }> } {
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
export function startWorkers({ config, deps, logger, processors, deadLetters, timeoutFor = jobTimeoutMs }: RunnerOptions): Runner {
  const { consumed, skipped } = consumableQueues(processors);
  for (const { queue, missing } of skipped) {
    logger.warn({ queue, missing }, 'queue not consumed by this worker: some job types have no processor');
  }
  const active = new Set<AbortableAttempt>();
  const workers = new Map<QueueName, Worker>();
  const connections: Redis[] = [];

  const run = async (job: Job): Promise<unknown> => {
    const queue = job.queueName as QueueName;
    const log = logger.child({ queue, job: job.name, jobId: job.id, attempt: job.attemptsMade + 1 });
    const processor = (processors[queue] as Record<string, AnyProcessor | undefined> | undefined)?.[job.name];
    if (!processor) throw new UnrecoverableError(`no processor for job type ${queue}/${job.name}`);
    try {
      parsePayload(queue, job.name, job.data);
    } catch (error) {
      // A payload that does not match its schema never will: fail at once, no retries.
      if (error instanceof PayloadValidationError) {
        log.warn({ issues: error.issues }, 'invalid payload; failing without retry');
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
    const timeoutMs = timeoutFor(queue, job.name);
    const attempt = abortableAttempt();
    active.add(attempt);
    const timer = setTimeout(() => attempt.abort(new JobTimeoutError(timeoutMs)), timeoutMs);
    const started = Date.now();
    log.debug('job started');
    try {
      // The race makes the attempt end at its timeout even when a processor ignores the signal.
      const result = await Promise.race([processor(job, attempt.deps({ ...deps, logger: log })), attempt.aborted]);
      log.info({ durationMs: Date.now() - started }, 'job completed');
      return result;
    } catch (error) {
      log.warn({ durationMs: Date.now() - started, err: errorSummary(error) }, 'job attempt failed');
      throw error;
    } finally {
      clearTimeout(timer);
      active.delete(attempt);
    }
  };

  for (const queue of consumed) {
    const connection = createRedisConnection(config.queues, 'worker', {
      connectionName: `ceres-worker-${queue}`,
      onWarning: (message) => logger.warn({ queue }, message),
    });
    connections.push(connection);
    const worker = new Worker(queue, run, {
      ...workerSettings,
      connection,
      prefix: config.queues.bullPrefix,
      concurrency: registry[queue].concurrency,
      // A killed worker's jobs keep their lock until it expires; the stalled check of any other
      // worker then puts them back to wait (once; a second stall fails the job).
      lockDuration: config.lockDurationMs,
      stalledInterval: config.stalledIntervalMs,
      maxStalledCount: 1,
    });
    worker.on('failed', (job, error) => void deadLetters.onFailed(job, error));
    worker.on('error', (error) => logger.error({ queue, err: errorSummary(error) }, 'worker error'));
    workers.set(queue, worker);
  }

  let closing: Promise<void> | undefined;
  return {
    queues: consumed,
    workers,
    ready: async () => {
      await Promise.all([...workers.values()].map((worker) => worker.waitUntilReady()));
    },
    close: (force = false) => {
      if (force) for (const attempt of active) attempt.abort(new Error('worker is shutting down'));
      closing ??= (async () => {
        await Promise.allSettled([...workers.values()].map((worker) => worker.close(force)));
        await Promise.allSettled(connections.map((connection) => connection.quit().catch(() => connection.disconnect())));
      })();
      if (force) {
        return Promise.allSettled([...workers.values()].map((worker) => worker.close(true))).then(() => closing);
      }
      return closing;
    },
  };
}

interface AbortableAttempt {
  /** Settles (rejects) only when the attempt is aborted. */
  aborted: Promise<never>;
  abort(reason: Error): void;
  /** The processor's deps with a `signal` that is created when first read. */
  deps<D extends object>(deps: D): D & { signal: AbortSignal };
}

/**
 * The abort side of one attempt. Most processors never read `deps.signal`, and an
 * AbortController costs about as much as a no-op job (bench pair 3), so it is made on first read;
 * a timeout or a forced stop rejects `aborted` either way.
 */
function abortableAttempt(): AbortableAttempt {
  let controller: AbortController | undefined;
  let reason: Error | undefined;
  let reject!: (error: Error) => void;
  const aborted = new Promise<never>((_, rejectAborted) => (reject = rejectAborted));
  aborted.catch(() => {});
  const signal = () => {
    if (!controller) {
      controller = new AbortController();
      if (reason) controller.abort(reason);
    }
    return controller.signal;
  };
  return {
    aborted,
    abort(error) {
      if (reason) return;
      reason = error;
      controller?.abort(error);
      reject(error);
    },
    deps(deps) {
      return Object.defineProperty(deps, 'signal', { get: signal, enumerable: true }) as typeof deps & { signal: AbortSignal };
    },
  };
}
