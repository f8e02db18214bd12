import { activeTracing, DEFAULT_TENANT, type SpanAttributes, type Tracing } from '@ceres/app-kit';
import { Queue, type JobsOptions } from 'bullmq';
import { announcePause } from './back-pressure';
import { CeresStore } from './ceres-store';
import { loadQueuesConfig, queuePrefix, type QueuesConfig } from './config';
import type { ConnectionOptions } from './connection';
import { UnknownJobTypeError } from './errors/unknown-job-type-error';
import { ProducerConnection } from './producer-connection';
import { isQueueName, QUEUE_NAMES, registry, type JobType, type OptionsOf, type Payload, type QueueName } from './registry';
import type { EnqueueOptions } from './schemas/enqueue-options';
import { replicaTargetFor } from './replica-target';
import { PayloadSealer } from './sealer';
import type { TenantOption } from './tenant';
import { JobWriter, type EnqueueResult } from './writer/job-writer';

export type { EnqueueResult } from './writer/job-writer';

export interface QueueClientOptions extends ConnectionOptions {
  /** @defaultValue read from the environment by `loadQueuesConfig()` */
  config?: QueuesConfig;
  /** Only the worker's client: lets it use the keys job types reserve (`reservedKeyPrefixes`). @defaultValue `false` */
  allowReservedKeys?: boolean;
}

/**
 * The producer side of the queues: validated, deterministic-id adds on a fail-fast connection.
 * It composes one piece per concern — the connection and what its errors mean
 * (producer-connection.ts), sealing a payload (sealer.ts: validate + encrypt), the writer
 * (writer/job-writer.ts) and Ceres's own Redis state (ceres-store.ts) — and keeps the raw
 * connection to itself. Build one per process (the module-level producers share a default one),
 * close it on shutdown.
 */
export class QueueClient {
  readonly config: QueuesConfig;
  /** Ceres's own Redis state: the dead-letter digest's counts, reconciliation ticks, due times. */
  readonly store: CeresStore;
  private readonly link: ProducerConnection;
  private readonly sealer: PayloadSealer;
  private readonly writer: JobWriter;
  private readonly queues = new Map<QueueName, Queue>();

  constructor(options: QueueClientOptions = {}) {
    this.config = options.config ?? loadQueuesConfig();
    this.link = new ProducerConnection(this.config, {
      connectionName: options.connectionName ?? 'ceres-producer',
      onWarning: options.onWarning,
    });
    this.sealer = new PayloadSealer(this.config, options.allowReservedKeys === true);
    this.writer = new JobWriter({
      connection: this.link.redis,
      claimMs: this.config.commandTimeoutMs,
      waitReplicas: replicaTargetFor(this.config, this.link.redis),
    });
    this.store = new CeresStore(this.link.redis, this.config.redisPrefix);
  }

  /** The BullMQ `Queue` of a registered queue, created on first use with the registry's defaults. */
  getQueue(name: QueueName): Queue {
    if (!isQueueName(name)) throw new UnknownJobTypeError(name, undefined, QUEUE_NAMES);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.link.redis,
        prefix: queuePrefix(this.config, name),
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

  /** See {@link ProducerConnection.isReady}. */
  isReady(): boolean {
    return this.link.isReady();
  }

  /** See {@link ProducerConnection.isOutage}. */
  isOutage(error: unknown): boolean {
    return this.link.isOutage(error);
  }

  /** See {@link ProducerConnection.ready}. */
  ready(): Promise<void> {
    return this.link.ready();
  }

  /** PING bounded by `timeoutMs` (the health checks): true when Redis answered in time. */
  ping(timeoutMs: number): Promise<boolean> {
    return this.link.ping(timeoutMs);
  }

  /** Calls `listener` when Redis becomes reachable (`up`) or is lost (`down`); returns the unsubscribe. */
  onConnectionChange(listener: (state: 'up' | 'down') => void): () => void {
    return this.link.onChange(listener);
  }

  /**
   * Validates and enqueues one job: one script call that decides and adds (see {@link JobWriter}).
   * Throws `PayloadValidationError`, `InvalidJobKeyError`, `UnknownJobTypeError` (nothing
   * enqueued) or `QueueUnavailableError` (Redis down, nothing enqueued).
   */
  enqueue<T extends JobType>(type: T, payload: Payload<T>, options?: OptionsOf<T> & TenantOption): Promise<EnqueueResult> {
    const tracing = activeTracing();
    if (!tracing) return this.enqueueOne(type, payload, options, undefined);
    const [queue, job] = splitType(type);
    return tracing.inSpan(`enqueue ${queue}`, 'producer', enqueueAttributes(queue, job, options?.tenant, 1), async (span) => {
      try {
        const result = await this.enqueueOne(type, payload, options, tracing);
        span.setAttribute('ceres.enqueue.duplicate', result.duplicate);
        return result;
      } catch (error) {
        span.fail(error);
        throw error;
      }
    });
  }

  private async enqueueOne(
    type: string,
    payload: unknown,
    options: (EnqueueOptions & TenantOption) | undefined,
    tracing: Tracing | undefined,
  ) {
    const [queue, job] = splitType(type);
    const sealed = this.sealer.seal(queue, job, this.sealer.check(queue, job, payload, options));
    await this.link.ready();
    const telemetry = tracing ? traceTelemetry(tracing) : undefined;
    const opts = telemetry ? { ...sealed.opts, telemetry } : sealed.opts;
    return this.link.unavailableIfDown(this.writer.addOne({ ...sealed, opts, queue: this.getQueue(queue as QueueName) }));
  }

  /**
   * Throws what {@link enqueue} would throw for this payload and these options before it reaches
   * Redis, or returns: the same checks, nothing enqueued. For callers that hold unchecked input
   * (the HTTP API's body validator).
   */
  check(type: string, payload: unknown, options?: EnqueueOptions & TenantOption): void {
    const [queue, job] = splitType(type);
    this.sealer.check(queue, job, payload, options);
  }

  /** As {@link check}, for the payloads of one {@link enqueueBulk} call. */
  checkBulk(type: string, payloads: readonly unknown[], options?: EnqueueOptions & TenantOption): void {
    const [queue, job] = splitType(type);
    this.sealer.checkBulk(queue, job, payloads, options);
  }

  /**
   * Validates and seals every payload in one pass, then enqueues them in one round trip (each job
   * atomic). One invalid item rejects the batch ({@link BatchValidationError}, listing each bad
   * item): nothing is enqueued.
   */
  enqueueBulk<T extends JobType>(
    type: T,
    payloads: ReadonlyArray<Payload<T>>,
    options?: OptionsOf<T> & TenantOption,
  ): Promise<EnqueueResult[]> {
    const tracing = activeTracing();
    if (!tracing) return this.enqueueMany(type, payloads, options, undefined);
    const [queue, job] = splitType(type);
    const attributes = enqueueAttributes(queue, job, options?.tenant, payloads.length);
    return tracing.inSpan(`enqueue ${queue}`, 'producer', attributes, async (span) => {
      try {
        const results = await this.enqueueMany(type, payloads, options, tracing);
        span.setAttribute('ceres.enqueue.duplicates', results.filter((result) => result.duplicate).length);
        return results;
      } catch (error) {
        span.fail(error);
        throw error;
      }
    });
  }

  private async enqueueMany(
    type: string,
    payloads: readonly unknown[],
    options: (EnqueueOptions & TenantOption) | undefined,
    tracing: Tracing | undefined,
  ): Promise<EnqueueResult[]> {
    const [queue, job] = splitType(type);
    const checked = this.sealer.checkBulk(queue, job, payloads, options);
    if (checked.length === 0) return [];
    const sealed = checked.map((item) => this.sealer.seal(queue, job, item));
    await this.link.ready();
    const bullQueue = this.getQueue(queue as QueueName);
    // One context for the whole call: every job of it is a child of the one enqueue span.
    const telemetry = tracing ? traceTelemetry(tracing) : undefined;
    const traced = telemetry ? sealed.map((item) => ({ ...item, opts: { ...item.opts, telemetry } })) : sealed;
    return this.link.unavailableIfDown(this.writer.add(traced.map((item) => ({ ...item, queue: bullQueue }))));
  }

  /**
   * Pauses `queue` for `ms` in every worker process (back-pressure: a peer throttled us): BullMQ's
   * limiter key, then an announcement to the processes whose Workers have no limiter.
   */
  async pauseQueue(queue: QueueName, ms: number): Promise<void> {
    await this.getQueue(queue).rateLimit(ms);
    await announcePause(this.link.redis, this.config, { queue, ms });
  }

  /** Closes the queues and the connection. Safe to call more than once. */
  async close(): Promise<void> {
    const queues = [...this.queues.values()];
    this.queues.clear();
    await Promise.allSettled([...queues.map((queue) => queue.close()), this.writer.close()]);
    await this.link.close();
  }
}

/** The enqueue span's attributes: the queue, the job type, the tenant and how many jobs; never a payload or a job id. */
function enqueueAttributes(queue: string, job: string, tenant: string | undefined, count: number): SpanAttributes {
  return {
    'messaging.system': 'bullmq',
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'enqueue',
    'messaging.destination.name': queue,
    'messaging.batch.message_count': count,
    'ceres.job.name': job,
    'ceres.tenant': tenant ?? DEFAULT_TENANT,
  };
}

/**
 * The active trace context as the job option BullMQ keeps it in (`telemetry.metadata`, `tm` in
 * Redis), where BullMQ's own Worker telemetry and the worker's runner read it. Only with tracing
 * on: without it a job is stored exactly as before.
 */
function traceTelemetry(tracing: Tracing): JobsOptions['telemetry'] {
  const metadata = tracing.metadata();
  return metadata === undefined ? undefined : { metadata };
}

/** `email/verify` → `['email', 'verify']`; job names have no `/`. */
function splitType(type: string): [string, string] {
  const slash = type.indexOf('/');
  return slash < 0 ? [type, ''] : [type.slice(0, slash), type.slice(slash + 1)];
}

/** Convenience for the one-off client used by scripts and tests. */
export function createQueueClient(options?: QueueClientOptions): QueueClient {
  return new QueueClient(options);
}

/** The client's Redis connection, for this package's tests only (index.ts does not export it). */
export function connectionOf(client: QueueClient): ProducerConnection['redis'] {
  return (client as unknown as { link: ProducerConnection }).link.redis;
}
