import { randomUUID } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadQueuesConfig, type QueuesConfig } from './config';
import { createRedisConnection, type ConnectionOptions } from './connection';
import { BatchValidationError, type BatchItemIssues } from './errors/batch-validation-error';
import { InvalidJobKeyError } from './errors/invalid-job-key-error';
import { PayloadValidationError, type FieldIssue } from './errors/payload-validation-error';
import { QueueUnavailableError } from './errors/queue-unavailable-error';
import { UnknownJobTypeError } from './errors/unknown-job-type-error';
import { buildJobId } from './job-id';
import { isQueueName, QUEUE_NAMES, registry, type JobDefinition, type JobName, type PayloadOf, type QueueName } from './registry';
import type { EnqueueOptions } from './schemas/enqueue-options';
import { EnqueueOptions as EnqueueOptionsSchema } from './schemas/enqueue-options';
import { jobDefinitionOrThrow, schemaIssues } from './validation';

export interface EnqueueResult {
  jobId: string;
  /** True exactly when a job with this id already existed and nothing new was enqueued. */
  duplicate: boolean;
}

export interface QueueClientOptions extends ConnectionOptions {
  /** @defaultValue read from the environment by `loadQueuesConfig()` */
  config?: QueuesConfig;
}

/**
 * Each add carries a random mark in an option BullMQ stores but does not interpret. Reading the
 * stored job back tells whether this add created it (our mark) or found it already there
 * (another mark, or none): BullMQ itself answers both cases with the same id.
 */
const ENQUEUE_MARK = 'ceresEnqueueMark';

/**
 * The producer side of the queues: validated, deterministic-id adds on a fail-fast connection.
 * Build one per process (the module-level producers share a default one), close it on shutdown.
 */
export class QueueClient {
  readonly config: QueuesConfig;
  readonly connection: Redis;
  private readonly queues = new Map<QueueName, Queue>();

  constructor(options: QueueClientOptions = {}) {
    this.config = options.config ?? loadQueuesConfig();
    this.connection = createRedisConnection(this.config, 'producer', {
      connectionName: options.connectionName ?? 'ceres-producer',
      onWarning: options.onWarning,
    });
  }

  /** The BullMQ `Queue` of a registered queue, created on first use with the registry's defaults. */
  getQueue(name: QueueName): Queue {
    if (!isQueueName(name)) throw new UnknownJobTypeError(name, undefined, QUEUE_NAMES);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.connection,
        prefix: this.config.bullPrefix,
        defaultJobOptions: registry[name].defaultJobOptions,
      });
      // Connection errors surface on each call; the event would otherwise be unhandled.
      queue.on('error', () => {});
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** True while the connection can take commands. */
  isReady(): boolean {
    return this.connection.status === 'ready';
  }

  /**
   * Resolves once the connection can take commands. The first connect of a fresh client is
   * awaited (app code may enqueue right at startup); once Redis has been lost, or when the first
   * connect fails, it throws {@link QueueUnavailableError} at once instead of waiting.
   */
  async ready(): Promise<void> {
    if (this.isReady()) return;
    if (!['wait', 'connecting', 'connect'].includes(this.connection.status)) throw new QueueUnavailableError();
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        this.connection.off('ready', onReady).off('error', onError).off('end', onError);
        if (error) reject(new QueueUnavailableError({ cause: error }));
        else resolve();
      };
      const onReady = () => settle();
      const onError = (error?: Error) => settle(error ?? new Error('connection ended'));
      this.connection.once('ready', onReady).once('error', onError).once('end', onError);
    });
  }

  /**
   * Validates and enqueues one job. Throws `PayloadValidationError`, `InvalidJobKeyError`,
   * `UnknownJobTypeError` (nothing enqueued) or `QueueUnavailableError` (Redis down, nothing enqueued).
   */
  async enqueue<Q extends QueueName, J extends JobName<Q>>(
    queue: Q,
    job: J,
    payload: PayloadOf<Q, J>,
    options?: EnqueueOptions,
  ): Promise<EnqueueResult> {
    const prepared = this.prepare(queue, job, payload, options);
    if (prepared.issues.length > 0) throw new PayloadValidationError(queue, job, prepared.issues);
    if (prepared.keyError) throw prepared.keyError;
    const [result] = await this.add(queue, job, [prepared]);
    return result!;
  }

  /**
   * Validates every payload, then enqueues them all in one transaction. One invalid item rejects
   * the batch ({@link BatchValidationError}, listing each bad item): nothing is enqueued.
   */
  async enqueueBulk<Q extends QueueName, J extends JobName<Q>>(
    queue: Q,
    job: J,
    payloads: ReadonlyArray<PayloadOf<Q, J>>,
    options?: EnqueueOptions,
  ): Promise<EnqueueResult[]> {
    const prepared = payloads.map((payload) => this.prepare(queue, job, payload, options));
    const rejected: BatchItemIssues[] = [];
    prepared.forEach((item, index) => {
      const issues = item.keyError ? [...item.issues, keyIssue(item.keyError)] : item.issues;
      if (issues.length > 0) rejected.push({ index, issues });
    });
    if (rejected.length > 0) throw new BatchValidationError(queue, job, rejected);
    if (prepared.length === 0) return [];
    return this.add(queue, job, prepared);
  }

  /** Closes the queues and the connection. Safe to call more than once. */
  async close(): Promise<void> {
    const queues = [...this.queues.values()];
    this.queues.clear();
    await Promise.allSettled(queues.map((queue) => queue.close()));
    if (this.connection.status !== 'end') {
      await this.connection.quit().catch(() => this.connection.disconnect());
    }
  }

  private prepare(queue: string, job: string, payload: unknown, options: EnqueueOptions | undefined): PreparedJob {
    const definition: JobDefinition = jobDefinitionOrThrow(queue, job);
    const issues = schemaIssues(definition.schema, payload);
    if (options !== undefined) issues.push(...optionIssues(definition, options));
    let jobId: string | undefined;
    let keyError: InvalidJobKeyError | undefined;
    if (issues.length === 0 && definition.keyField) {
      const key = (payload as Record<string, unknown>)[definition.keyField];
      if (key !== undefined) {
        try {
          jobId = buildJobId(queue, job, key, definition.keyField);
        } catch (error) {
          if (!(error instanceof InvalidJobKeyError)) throw error;
          keyError = error;
        }
      }
    }
    return { payload, issues, jobId, keyError, options };
  }

  private async add(queueName: QueueName, job: string, items: PreparedJob[]): Promise<EnqueueResult[]> {
    // Fail fast without touching BullMQ: a Queue first used while Redis is down never recovers.
    await this.ready();
    const queue = this.getQueue(queueName);
    const marks = items.map(() => randomUUID());
    const jobsOptions = items.map((item, i): JobsOptions => {
      const opts: JobsOptions & Record<string, unknown> = { [ENQUEUE_MARK]: marks[i] };
      if (item.jobId !== undefined) opts.jobId = item.jobId;
      if (item.options?.delay !== undefined) opts.delay = item.options.delay;
      if (item.options?.priority !== undefined) opts.priority = item.options.priority;
      return opts;
    });
    try {
      const added =
        items.length === 1
          ? [await queue.add(job, items[0]!.payload, jobsOptions[0])]
          : await queue.addBulk(items.map((item, i) => ({ name: job, data: item.payload, opts: jobsOptions[i] })));
      const storedOpts = await Promise.all(
        added.map((entry, i) =>
          items[i]!.jobId === undefined
            ? Promise.resolve(null)
            : this.connection.hget(`${this.config.bullPrefix}:${queueName}:${entry.id}`, 'opts'),
        ),
      );
      return added.map((entry, i) => ({
        jobId: entry.id!,
        duplicate: items[i]!.jobId !== undefined && !(storedOpts[i] ?? '').includes(marks[i]!),
      }));
    } catch (error) {
      if (!this.isReady()) throw new QueueUnavailableError({ cause: error });
      throw error;
    }
  }
}

interface PreparedJob {
  payload: unknown;
  issues: FieldIssue[];
  jobId?: string;
  keyError?: InvalidJobKeyError;
  options?: EnqueueOptions;
}

function keyIssue(error: InvalidJobKeyError): FieldIssue {
  return { field: error.field ?? '', message: error.message };
}

function optionIssues(definition: JobDefinition, options: EnqueueOptions): FieldIssue[] {
  const issues = schemaIssues(EnqueueOptionsSchema, options);
  for (const name of Object.keys(options) as Array<keyof EnqueueOptions>) {
    if (options[name] !== undefined && !definition.options.includes(name)) {
      issues.push({ field: name, message: `${name} is not accepted for this job type` });
    }
  }
  return issues;
}

/** Convenience for the one-off client used by scripts and tests. */
export function createQueueClient(options?: QueueClientOptions): QueueClient {
  return new QueueClient(options);
}
