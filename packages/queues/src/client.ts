import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadQueuesConfig, type QueuesConfig } from './config';
import { connectionConfigError, createRedisConnection, type ConnectionOptions } from './connection';
import { BatchValidationError, type BatchItemIssues } from './errors/batch-validation-error';
import { InvalidJobKeyError } from './errors/invalid-job-key-error';
import { PayloadValidationError, type FieldIssue } from './errors/payload-validation-error';
import { QueueUnavailableError } from './errors/queue-unavailable-error';
import { UnknownJobTypeError } from './errors/unknown-job-type-error';
import { missingKeyringError } from './crypto/keyring';
import { personalFields, sealPayload } from './crypto/fields';
import { jobIdOf } from './job-id';
import { announcePause } from './back-pressure';
import { schemaIssues } from '@ceres/app-kit';
import type { JobDefinition } from './jobs/define';
import { isQueueName, jobOptions, QUEUE_NAMES, registry, type JobType, type OptionsOf, type Payload, type QueueName } from './registry';
import { reservedKeyIssue } from './reserved-keys';
import type { EnqueueOptions } from './schemas/enqueue-options';
import { EnqueueOptions as EnqueueOptionsSchema } from './schemas/enqueue-options';
import { jobDefinitionOrThrow } from './validation';
import { JobWriter, type EnqueueResult, type JobToAdd } from './writer/job-writer';

export type { EnqueueResult } from './writer/job-writer';

export interface QueueClientOptions extends ConnectionOptions {
  /** @defaultValue read from the environment by `loadQueuesConfig()` */
  config?: QueuesConfig;
  /** Only the worker's client: lets it use the keys job types reserve (`reservedKeyPrefixes`). @defaultValue `false` */
  allowReservedKeys?: boolean;
}

/**
 * The producer side of the queues: validated, deterministic-id adds on a fail-fast connection.
 * Build one per process (the module-level producers share a default one), close it on shutdown.
 */
export class QueueClient {
  readonly config: QueuesConfig;
  readonly connection: Redis;
  private readonly queues = new Map<QueueName, Queue>();
  private readonly writer: JobWriter;
  private firstConnect: Promise<void> | undefined;
  private readonly allowReservedKeys: boolean;

  constructor(options: QueueClientOptions = {}) {
    this.allowReservedKeys = options.allowReservedKeys === true;
    this.config = options.config ?? loadQueuesConfig();
    this.connection = createRedisConnection(this.config, 'producer', {
      connectionName: options.connectionName ?? 'ceres-producer',
      onWarning: options.onWarning,
    });
    this.writer = new JobWriter({
      connection: this.connection,
      claimMs: this.config.commandTimeoutMs,
      waitReplicas: this.config.waitReplicas,
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
      // BullMQ keeps a failed set-up for good (every later call rejects with it): a queue first
      // used while Redis hung is dropped, and the next call builds a fresh one.
      const created = queue;
      created.waitUntilReady().catch(() => {
        if (this.queues.get(name) === created) this.queues.delete(name);
        void created.close().catch(() => {});
      });
    }
    return queue;
  }

  /**
   * True while the connection can take commands: connected, and its socket still writable (when
   * Redis goes away, the socket ends a moment before ioredis leaves the `ready` state).
   */
  isReady(): boolean {
    return this.connection.status === 'ready' && this.connection.stream?.writable === true;
  }

  /**
   * Whether `error`, from a call on this client's connection, means Redis is unavailable (answer
   * 503, retry later) rather than a fault: the connection is not ready, or a command outlived
   * `REDIS_COMMAND_TIMEOUT_MS` (Redis hung).
   */
  isOutage(error: unknown): boolean {
    // ioredis rejects a timed-out command with a plain Error carrying this message.
    return !this.isReady() || (error instanceof Error && error.message === 'Command timed out') || redisRefusal(error) !== undefined;
  }

  /**
   * Resolves once the connection can take commands. The first connect of a fresh client is
   * awaited (app code may enqueue right at startup); once Redis has been lost, or when the first
   * connect fails, it throws {@link QueueUnavailableError} at once instead of waiting. A
   * `REDIS_URL` database the server does not have throws its `ConfigError`, now and on every call.
   */
  async ready(): Promise<void> {
    const misconfigured = connectionConfigError(this.connection);
    if (misconfigured) throw misconfigured;
    if (this.isReady()) return;
    if (!['wait', 'connecting', 'connect'].includes(this.connection.status)) throw new QueueUnavailableError();
    // One wait shared by every caller, rather than three listeners per waiting enqueue.
    this.firstConnect ??= new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        this.connection.off('ready', onReady).off('error', onError).off('end', onError);
        this.firstConnect = undefined;
        if (error) reject(connectionConfigError(this.connection) ?? new QueueUnavailableError({ cause: error }));
        else resolve();
      };
      const onReady = () => settle();
      const onError = (error?: Error) => settle(error ?? new Error('connection ended'));
      this.connection.once('ready', onReady).once('error', onError).once('end', onError);
    });
    return this.firstConnect;
  }

  /**
   * Validates and enqueues one job: one script call that decides and adds (see {@link JobWriter}). Throws `PayloadValidationError`, `InvalidJobKeyError`,
   * `UnknownJobTypeError` (nothing enqueued) or `QueueUnavailableError` (Redis down, nothing enqueued).
   */
  async enqueue<T extends JobType>(type: T, payload: Payload<T>, options?: OptionsOf<T>): Promise<EnqueueResult> {
    const [queue, job] = splitType(type);
    const prepared = this.validated(queue, job, payload, options);
    await this.ready();
    return this.unavailableIfDown(this.writer.addOne(this.jobToAdd(queue, job, prepared)));
  }

  /**
   * Throws what {@link enqueue} would throw for this payload and these options before it reaches
   * Redis, or returns: the same checks, nothing enqueued. For callers that hold unchecked input
   * (the HTTP API's body validator).
   */
  check(type: string, payload: unknown, options?: EnqueueOptions): void {
    const [queue, job] = splitType(type);
    this.validated(queue, job, payload, options);
  }

  /** As {@link check}, for the payloads of one {@link enqueueBulk} call. */
  checkBulk(type: string, payloads: readonly unknown[], options?: EnqueueOptions): void {
    const [queue, job] = splitType(type);
    this.validatedBulk(queue, job, payloads, options);
  }

  /**
   * Validates every payload, then enqueues them all with `Queue.addBulk` (one round trip, each job
   * atomic). One invalid item rejects the batch ({@link BatchValidationError}, listing each bad
   * item): nothing is enqueued.
   */
  async enqueueBulk<T extends JobType>(type: T, payloads: ReadonlyArray<Payload<T>>, options?: OptionsOf<T>): Promise<EnqueueResult[]> {
    const [queue, job] = splitType(type);
    const prepared = this.validatedBulk(queue, job, payloads, options);
    if (prepared.length === 0) return [];
    await this.ready();
    return this.unavailableIfDown(this.writer.add(prepared.map((item) => this.jobToAdd(queue, job, item))));
  }

  /**
   * Pauses `queue` for `ms` in every worker process (back-pressure: a peer throttled us): BullMQ's
   * limiter key, then an announcement to the processes whose Workers have no limiter.
   */
  async pauseQueue(queue: QueueName, ms: number): Promise<void> {
    await this.getQueue(queue).rateLimit(ms);
    await announcePause(this.connection, this.config, { queue, ms });
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

  private validated(queue: string, job: string, payload: unknown, options: EnqueueOptions | undefined): PreparedJob {
    const prepared = this.prepare(queue, job, payload, options);
    if (prepared.issues.length > 0) throw new PayloadValidationError(queue, job, prepared.issues);
    if (prepared.keyError) throw prepared.keyError;
    return prepared;
  }

  private validatedBulk(queue: string, job: string, payloads: readonly unknown[], options: EnqueueOptions | undefined): PreparedJob[] {
    const prepared = payloads.map((payload) => this.prepare(queue, job, payload, options));
    const rejected: BatchItemIssues[] = [];
    prepared.forEach((item, index) => {
      const issues = item.keyError ? [...item.issues, keyIssue(item.keyError)] : item.issues;
      if (issues.length > 0) rejected.push({ index, issues });
    });
    if (rejected.length > 0) throw new BatchValidationError(queue, job, rejected);
    return prepared;
  }

  private prepare(queue: string, job: string, payload: unknown, options: EnqueueOptions | undefined): PreparedJob {
    const definition: JobDefinition = jobDefinitionOrThrow(queue, job);
    const issues = schemaIssues(definition.schema, payload);
    if (options !== undefined) issues.push(...optionIssues(definition, options));
    let jobId: string | undefined;
    let keyError: InvalidJobKeyError | undefined;
    if (issues.length === 0) {
      try {
        jobId = jobIdOf(queue, job, definition, payload as Record<string, unknown>);
      } catch (error) {
        if (!(error instanceof InvalidJobKeyError)) throw error;
        keyError = error;
      }
    }
    if (jobId !== undefined && definition.keyField && !this.allowReservedKeys) {
      const reserved = reservedKeyIssue(definition, (payload as Record<string, unknown>)[definition.keyField!]);
      if (reserved) issues.push(reserved);
    }
    return { payload, issues, jobId, keyError, options, definition };
  }

  private jobToAdd(queueName: string, name: string, item: PreparedJob): JobToAdd {
    // Getting the queue first also fails fast without touching BullMQ: a Queue first used while
    // Redis is down never recovers, hence the ready() before every add.
    const queue = this.getQueue(queueName as QueueName);
    const opts: JobsOptions = jobOptions(queueName as QueueName, name);
    if (item.jobId !== undefined) opts.jobId = item.jobId;
    if (item.options?.delay !== undefined) opts.delay = item.options.delay;
    if (item.options?.priority !== undefined) opts.priority = item.options.priority;
    const window = item.definition.duplicates;
    const fields = personalFields(item.definition);
    if (fields.length === 0) return { queue, name, data: item.payload, opts, window };
    // Personal data never reaches Redis in plaintext: without a keyring nothing is enqueued.
    if (!this.config.keyring) throw missingKeyringError(`producer of ${queueName}/${name}`);
    const sealed = sealPayload(this.config.keyring, `${queueName}/${name}`, item.definition, item.payload, window === 'pending-or-same-payload');
    return { queue, name, data: sealed.data, opts, window, digests: sealed.digests };
  }

  /** A failed add during an outage is a {@link QueueUnavailableError}; any other error stays as it is. */
  private async unavailableIfDown<T>(adding: Promise<T>): Promise<T> {
    try {
      return await adding;
    } catch (error) {
      hideCommand(error);
      if (this.isOutage(error)) throw new QueueUnavailableError({ cause: error, reason: redisRefusal(error) });
      throw error;
    }
  }
}

/**
 * Redis answers that mean "not now" for every write, whatever the job: out of memory under
 * `noeviction`, a failed disk write (MISCONF), a replica or a loading server. Script errors wrap
 * them ("… OOM command not allowed …"), so the code is looked for anywhere in the message.
 */
const REFUSALS: Array<[RegExp, string]> = [
  [/\bOOM\b/, 'Redis is out of memory'],
  [/\bMISCONF\b/, 'Redis cannot persist to disk'],
  [/\bREADONLY\b/, 'Redis is a read-only replica'],
  [/\bLOADING\b/, 'Redis is loading its data'],
  [/\bMASTERDOWN\b/, 'Redis has lost its primary'],
];

/** Why Redis refused the write, when the refusal is an outage; undefined otherwise. */
export function redisRefusal(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return undefined;
  return REFUSALS.find(([pattern]) => pattern.test(error.message))?.[1];
}

/**
 * ioredis puts the failed command, arguments included, on its errors as `command`: for an add
 * that is the whole payload (addresses, tokens). Made non-enumerable, loggers skip it.
 */
function hideCommand(error: unknown): void {
  if (error !== null && typeof error === 'object' && Object.prototype.hasOwnProperty.call(error, 'command')) {
    Object.defineProperty(error, 'command', { enumerable: false });
  }
}

interface PreparedJob {
  payload: unknown;
  issues: FieldIssue[];
  jobId?: string;
  keyError?: InvalidJobKeyError;
  options?: EnqueueOptions;
  definition: JobDefinition;
}

/** `email/verify` → `['email', 'verify']`; job names have no `/`. */
function splitType(type: string): [string, string] {
  const slash = type.indexOf('/');
  return slash < 0 ? [type, ''] : [type.slice(0, slash), type.slice(slash + 1)];
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
