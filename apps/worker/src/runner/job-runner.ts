import { EventEmitter } from 'node:events';
import { activeTracing, type Tracing } from '@ceres/app-kit';
import {
  createRedisConnection,
  queuePrefix,
  type RedisClient,
  tenantOfData,
  findJobDefinition,
  jobTimeoutMs,
  limiterFor,
  QUEUE_NAMES,
  registry,
  workerSettings,
  type JobDefinition,
  type QueueName,
} from '@ceres/queues';
import { DelayedError, RateLimitError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { BreakerBoard } from '../breakers/board';
import { laneOf } from '../breakers/lanes';
import type { WorkerConfig } from '../config';
import type { WorkerDeps } from '../deps';
import type { AttemptContext, PartialProcessorMap, ProcessorJob } from '../processors';
import { errorSummary } from '../redact';
import { RedisOutage } from '../redis-outage';
import type { LeftJob } from '../stop';
import type { TenantDelivery } from '../tenants/delivery';
import type { TenantGate } from '../tenants/gate';
import { attemptClass, type Attempt } from './attempt';
import { classifyFailure, openJob, runWithDeadline, validateJob } from './pipeline';

export interface RunnerOptions {
  config: WorkerConfig;
  deps: WorkerDeps;
  logger: Logger;
  processors: PartialProcessorMap;
  /**
   * The attempt timeout of a job type. Embedders and tests may shorten it; the worker uses the
   * registry's declaration.
   * @defaultValue `jobTimeoutMs` from `@ceres/queues` (the registry's `timeoutMs`)
   */
  timeoutFor?: (queue: QueueName, job: string) => number;
  /** Consume only these queues (the CLI's `work --queue`). @defaultValue every consumable queue */
  queues?: readonly QueueName[];
  /** At most this many jobs at once per queue, below the registry's concurrency (the CLI's `work --once`). */
  maxConcurrency?: number;
  /**
   * Whether a job taken from `queue` may start (the CLI's `work --once` / `--max-jobs` budget),
   * asked once its payload opened and its tenant admits it: a job refused goes back to wait as it
   * was, no attempt used. Every job admitted ends with one `attemptEnded`.
   * @defaultValue every job starts
   */
  admit?: (queue: QueueName) => boolean;
  /**
   * The tenants' shares (disabled, rates, their own relays' back-pressure) and delivery settings.
   * @defaultValue none: every job runs with `deps`, as for one tenant
   */
  tenancy?: { gate: TenantGate; delivery: TenantDelivery };
  /**
   * The circuit breakers of the SMTP relays and Slack webhooks: a job whose dependency's breaker
   * is open waits without using an attempt. @defaultValue none: every job runs
   */
  breakers?: BreakerBoard;
}

/** What a runner tells its subscribers (the stall watchdog, the activity log, the dead letters). */
export interface RunnerEvents {
  /** A queue's BullMQ Worker was built (at start, or rebuilt by {@link JobRunner.rebuild}). */
  workerStarted: [queue: QueueName];
  /** An attempt passed its checks and its processor starts (the job as BullMQ gave it, and its tenant). */
  attemptStarted: [queue: QueueName, job: Job, tenant: string];
  /** An attempt that started ended: completed, failed, or back to wait after a peer's throttling or a failed breaker probe (`throttled`: no attempt used). */
  attemptEnded: [queue: QueueName, outcome: 'completed' | 'failed' | 'throttled', durationMs: number, job: Job, tenant: string];
  /** A job was put off without an attempt: its tenant is disabled, held by its relay, or at its rate, or its dependency's breaker is open. */
  jobPutOff: [queue: QueueName, tenant: string, reason: 'disabled' | 'held' | 'rate' | 'breaker', waitMs: number];
  /** BullMQ's `failed` of a job (any attempt, the last included): the dead letters decide. */
  jobFailed: [job: Job | undefined, error: Error];
}

/** The state of one consumed queue: its worker, that worker's connection, what runs on it. */
interface QueueSlot {
  worker: Worker;
  connection: RedisClient;
  concurrency: number;
  /** BullMQ honours a pause itself only on a Worker with a limiter (a queue with a rate). */
  limited: boolean;
  active: number;
  /** A back-pressure pause holds this worker until then (ms since the epoch; 0: none). */
  heldUntil: number;
  holdTimer?: NodeJS.Timeout;
}

type AnyProcessor = (job: ProcessorJob<unknown>, deps: WorkerDeps, ctx: AttemptContext) => Promise<unknown>;

/** What the pipeline needs of a job type, looked up once per type rather than once per job. */
interface JobTypeRoute {
  processor: AnyProcessor | undefined;
  definition: JobDefinition | undefined;
  timeoutMs: number;
  /** The external dependency its processor calls, whose circuit breaker it waits for. */
  lane: 'mailer' | 'slack' | undefined;
}

/** The queues whose every job type has a processor; the others are not consumed at all. */
export function consumableQueues(processors: PartialProcessorMap): {
  consumed: QueueName[];
  skipped: Array<{ queue: QueueName; missing: string[] }>;
} {
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

/**
 * One BullMQ Worker per consumable queue, each with its own connection and the registry's
 * settings, and the per-job pipeline (pipeline.ts) between BullMQ and the processors. States:
 * `running` from construction, `closing` once {@link close} is called (no rebuild, no resume).
 */
export class JobRunner extends EventEmitter<RunnerEvents> {
  /** The queues consumed by this process. */
  readonly queues: QueueName[];
  private readonly slots = new Map<QueueName, QueueSlot>();
  private readonly active = new Set<Attempt>();
  private readonly routes = new Map<string, Map<string, JobTypeRoute>>();
  /** Holds asked for before {@link start} built the workers (a pause read while the tenants were being read). */
  private readonly earlyHolds = new Map<QueueName, number>();
  private readonly Attempt: new (job: Job) => Attempt;
  private readonly timeoutFor: (queue: QueueName, job: string) => number;
  private readonly maxConcurrency: number;
  private closing: Promise<void> | undefined;
  /** Whether the workers' Redis connections are down (logged once per outage). */
  readonly outage: RedisOutage;

  constructor(private readonly options: RunnerOptions) {
    super();
    this.outage = new RedisOutage(options.logger);
    const { consumed, skipped } = consumableQueues(options.processors);
    this.queues = options.queues === undefined ? consumed : consumed.filter((queue) => options.queues!.includes(queue));
    for (const { queue, missing } of skipped) {
      options.logger.warn({ queue, missing }, 'queue not consumed by this worker: some job types have no processor');
    }
    this.Attempt = attemptClass(options.logger);
    this.timeoutFor = options.timeoutFor ?? jobTimeoutMs;
    this.maxConcurrency = options.maxConcurrency ?? Infinity;
  }

  /** Builds the workers; listeners subscribed before see every `workerStarted`. */
  start(): this {
    for (const queue of this.queues) this.build(queue, this.earlyHolds.get(queue) ?? 0);
    this.earlyHolds.clear();
    return this;
  }

  /** The BullMQ Worker of each consumed queue (replaced when rebuilt). */
  get workers(): ReadonlyMap<QueueName, Worker> {
    return new Map([...this.slots].map(([queue, slot]) => [queue, slot.worker]));
  }

  /** Whether the worker of `queue` could take another job now (a busy worker rightly fetches nothing). */
  hasFreeSlot(queue: QueueName): boolean {
    const slot = this.slots.get(queue);
    return slot !== undefined && slot.active < slot.worker.concurrency;
  }

  /** Resolves once every worker is connected and taking jobs. */
  async ready(): Promise<void> {
    await Promise.all([...this.slots.values()].map((slot) => slot.worker.waitUntilReady()));
  }

  /**
   * Holds `queue` for `ms` in this process (a back-pressure pause another process, or this one,
   * asked for). A Worker with a limiter honours the pause in Redis by itself; the others are
   * paused here and resumed when it ends, so no job pays for a pause that is not in force.
   */
  hold(queue: QueueName, ms: number): void {
    const slot = this.slots.get(queue);
    const until = Date.now() + ms;
    if (!slot && this.queues.includes(queue)) this.earlyHolds.set(queue, Math.max(until, this.earlyHolds.get(queue) ?? 0));
    if (!slot || slot.limited || this.closing) return;
    if (until <= slot.heldUntil) return;
    slot.heldUntil = until;
    void slot.worker.pause(true);
    this.armResume(queue, slot);
  }

  /** Rebuilds the worker of `queue` with a new connection (the stall watchdog's remedy). */
  async rebuild(queue: QueueName): Promise<void> {
    const old = this.slots.get(queue);
    if (this.closing || !old) return;
    clearTimeout(old.holdTimer);
    const slot = this.build(queue, old.heldUntil);
    slot.active = old.active;
    // The old worker has nothing active (the watchdog saw a free slot and no job for an interval).
    await old.worker.close(true).catch(() => {});
    old.connection.disconnect();
  }

  /** The jobs whose processor runs now. */
  activeJobs(): LeftJob[] {
    return [...this.active].map((attempt) => attempt.left);
  }

  /** Drops every worker connection at once, without waiting for Redis (a stop during an outage). */
  abandon(): void {
    this.outage.stop();
    for (const slot of this.slots.values()) slot.connection.disconnect();
  }

  /**
   * Stops taking jobs and waits for the active ones (`force`: aborts them instead, leaving them to
   * the stalled-job check of another worker), then closes the Redis connections.
   */
  close(force = false): Promise<void> {
    this.outage.stop();
    if (force) for (const attempt of this.active) attempt.abort(new Error('worker is shutting down'));
    const slots = [...this.slots.values()];
    for (const slot of slots) clearTimeout(slot.holdTimer);
    this.closing ??= (async () => {
      await Promise.allSettled(slots.map((slot) => slot.worker.close(force)));
      await Promise.allSettled(slots.map((slot) => slot.connection.quit().catch(() => slot.connection.disconnect())));
    })();
    if (force) return Promise.allSettled(slots.map((slot) => slot.worker.close(true))).then(() => this.closing);
    return this.closing;
  }

  private build(queue: QueueName, heldUntil = 0): QueueSlot {
    const { config, logger } = this.options;
    const connection = createRedisConnection(config.queues, 'worker', {
      connectionName: `ceres-worker-${queue}`,
      onWarning: (message) => logger.warn({ queue }, message),
    });
    this.outage.watch(connection);
    const rate = config.rates[queue];
    const tracing = activeTracing();
    const processJob = tracing
      ? (job: Job, token?: string) => this.traced(tracing, job, token)
      : (job: Job, token?: string) => this.run(job, token);
    const worker = new Worker(queue, processJob, {
      ...workerSettings,
      connection,
      prefix: queuePrefix(config.queues, queue),
      concurrency: Math.min(registry[queue].concurrency, this.maxConcurrency),
      // A killed worker's jobs keep their lock until it expires; the stalled check of any other
      // worker then puts them back to wait (once; a second stall fails the job).
      lockDuration: config.lockDurationMs,
      stalledInterval: config.stalledIntervalMs,
      maxStalledCount: 1,
      // BullMQ keeps the limiter in Redis, so a rate holds across every worker process. Only a
      // queue with a rate has one: it costs each job limiter work in Redis and in the worker.
      ...(rate === undefined ? {} : { limiter: limiterFor(rate) }),
    });
    worker.on('failed', (job, error) => this.emit('jobFailed', job, error));
    worker.on('error', (error) => this.outage.absorb(error) || logger.error({ queue, err: errorSummary(error) }, 'worker error'));
    const slot: QueueSlot = { worker, connection, concurrency: worker.concurrency, limited: rate !== undefined, active: 0, heldUntil };
    this.slots.set(queue, slot);
    if (heldUntil > Date.now()) {
      void worker.pause(true);
      this.armResume(queue, slot);
    }
    this.emit('workerStarted', queue);
    return slot;
  }

  private route(queue: QueueName, name: string): JobTypeRoute {
    let byName = this.routes.get(queue);
    if (!byName) this.routes.set(queue, (byName = new Map()));
    let route = byName.get(name);
    if (!route) {
      const processor = (this.options.processors[queue] as Record<string, AnyProcessor | undefined> | undefined)?.[name];
      route = {
        processor,
        definition: findJobDefinition(queue, name),
        timeoutMs: this.timeoutFor(queue, name),
        lane: this.options.breakers ? laneOf(queue, name) : undefined,
      };
      // Only the job types this runner has: a stray name must not grow the map.
      if (processor) byName.set(name, route);
    }
    return route;
  }

  private armResume(queue: QueueName, slot: QueueSlot): void {
    clearTimeout(slot.holdTimer);
    slot.holdTimer = setTimeout(
      () => {
        if (this.closing || this.slots.get(queue) !== slot) return;
        if (Date.now() < slot.heldUntil) return this.armResume(queue, slot);
        slot.heldUntil = 0;
        void slot.worker.resume();
      },
      Math.max(slot.heldUntil - Date.now(), 1),
    );
    slot.holdTimer.unref();
  }

  /**
   * {@link run} in a consumer span, one per attempt: a child of the enqueue span whose context the
   * job carries (BullMQ's telemetry metadata), or a new trace for a job enqueued without tracing.
   */
  private traced(tracing: Tracing, job: Job, token: string | undefined): Promise<unknown> {
    const attributes = {
      'messaging.system': 'bullmq',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': job.queueName,
      'ceres.job.name': job.name,
      'ceres.job.attempt': job.attemptsMade + 1,
      'ceres.tenant': tenantOfData(job.data),
    };
    return tracing.inSpan(
      `process ${job.queueName}`,
      'consumer',
      attributes,
      async (span) => {
        try {
          const result = await this.run(job, token);
          span.setAttribute('ceres.job.outcome', 'completed');
          return result;
        } catch (error) {
          const outcome = attemptOutcome(error);
          span.setAttribute('ceres.job.outcome', outcome);
          if (outcome === 'failed') span.fail(error);
          throw error;
        }
      },
      job.opts.telemetry?.metadata ?? null,
    );
  }

  /** The per-job pipeline: open → validate → run under a deadline → record the outcome. */
  private async run(job: Job, token: string | undefined): Promise<unknown> {
    const queue = job.queueName as QueueName;
    const { config, tenancy } = this.options;
    let { deps } = this.options;
    const attempt = new this.Attempt(job);
    const { processor, definition, timeoutMs, lane } = this.route(queue, job.name);
    if (!processor) throw new UnrecoverableError(`no processor for job type ${queue}/${job.name}`);
    let plain: ProcessorJob<unknown>;
    try {
      plain = openJob(job, definition, config.queues.keyring);
      validateJob(plain);
    } catch (error) {
      const issues = (error as { issues?: unknown }).issues;
      if (issues) attempt.log('warn', { issues }, 'invalid payload; failing without retry');
      else if (error instanceof UnrecoverableError)
        attempt.log('warn', { err: errorSummary(error) }, 'payload does not decrypt; failing without retry');
      else
        attempt.log('warn', { err: errorSummary(error) }, 'payload does not open with the keys this worker has; retried on the schedule');
      throw error;
    }
    const slot = this.slots.get(queue);
    // A fetch already waiting when the pause came may still bring a job: back to wait, no attempt used.
    if (slot && slot.heldUntil > Date.now()) throw Worker.RateLimitError();
    const tenant = tenantOfData(job.data);
    if (tenancy && slot) {
      let admission = tenancy.gate.admit(slot.worker, tenant, job.id!);
      if (admission instanceof Promise) admission = await admission;
      if ('reason' in admission) {
        await job.moveToDelayed(Date.now() + admission.wait, token);
        attempt.log('debug', { tenant, reason: admission.reason, waitMs: admission.wait }, 'job put off: back when its tenant may run');
        this.emit('jobPutOff', queue, tenant, admission.reason, admission.wait);
        throw new DelayedError();
      }
      deps = tenancy.delivery.depsOf(tenant);
    }
    // The breaker of the relay or webhook this job's deps call (none for the outbox, a logged Slack).
    const dependency = lane === undefined ? undefined : deps[lane].dependency;
    const breakers = this.options.breakers!;
    let probe = false;
    if (dependency !== undefined) {
      let admission = breakers.admit(dependency, job.id!);
      if (admission instanceof Promise) admission = await admission;
      if ('state' in admission) {
        await job.moveToDelayed(Date.now() + admission.wait, token);
        attempt.log(
          'debug',
          { dependency, state: admission.state, waitMs: admission.wait },
          "job put off: its dependency's circuit breaker is open",
        );
        this.emit('jobPutOff', queue, tenant, 'breaker', admission.wait);
        throw new DelayedError();
      }
      probe = admission.probe;
    }
    if (this.options.admit && !this.options.admit(queue)) {
      // The real job (a processor may only get a plain view of it): back to wait, untouched.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    if (slot) slot.active += 1;
    this.active.add(attempt);
    this.emit('attemptStarted', queue, job, tenant);
    const started = Date.now();
    attempt.log('debug', {}, 'job started');
    try {
      const result = await runWithDeadline(() => processor(plain, deps, attempt), attempt, timeoutMs);
      const durationMs = Date.now() - started;
      if (dependency !== undefined) void breakers.finished(dependency, job.id!, probe);
      attempt.log('debug', { durationMs }, 'job completed');
      this.emit('attemptEnded', queue, 'completed', durationMs, job, tenant);
      return result;
    } catch (error) {
      const durationMs = Date.now() - started;
      const reopened = dependency === undefined ? undefined : await breakers.finished(dependency, job.id!, probe, error);
      if (reopened) {
        // The probe found the dependency still down, or another process opened the breaker while this
        // attempt ran: it waits for the next probe like the others.
        await job.moveToDelayed(Date.now() + reopened.reopenedForMs, token);
        attempt.log(
          'warn',
          { durationMs, dependency, waitMs: reopened.reopenedForMs, err: errorSummary(error) },
          reopened.why === 'probe'
            ? 'circuit breaker probe failed: job back when the breaker lets a probe through again (no attempt used)'
            : 'circuit breaker opened while this job ran: job back when the breaker lets a probe through (no attempt used)',
        );
        this.emit('attemptEnded', queue, 'throttled', durationMs, job, tenant);
        throw new DelayedError();
      }
      const failure = classifyFailure(error);
      if (failure.kind === 'throttled' && tenancy && slot && tenancy.gate.hasOwnRelay(tenant)) {
        // The tenant's own relay: hold that tenant alone, in every worker process.
        const held = await tenancy.gate.hold(slot.worker, tenant, failure.pauseMs).then(
          () => true,
          (holdError: unknown) => {
            attempt.log('warn', { holdErr: errorSummary(holdError) }, 'could not hold the throttled tenant');
            return false;
          },
        );
        if (held) {
          await job.moveToDelayed(Date.now() + failure.pauseMs, token);
          attempt.log(
            'warn',
            { durationMs, tenant, pauseMs: failure.pauseMs, err: errorSummary(failure.cause) },
            "tenant's relay throttled: tenant held, job back when the hold ends (no attempt used)",
          );
          this.emit('attemptEnded', queue, 'throttled', durationMs, job, tenant);
          throw new DelayedError();
        }
      } else if (failure.kind === 'throttled') {
        const paused = await deps.queues.pauseQueue(queue, failure.pauseMs).then(
          () => true,
          (pauseError: unknown) => {
            attempt.log('warn', { pauseErr: errorSummary(pauseError) }, 'could not pause the throttled queue');
            return false;
          },
        );
        if (paused) {
          this.hold(queue, failure.pauseMs);
          attempt.log(
            'warn',
            { durationMs, pauseMs: failure.pauseMs, err: errorSummary(failure.cause) },
            'peer throttled: queue paused, job back to wait (no attempt used)',
          );
          this.emit('attemptEnded', queue, 'throttled', durationMs, job, tenant);
          // BullMQ moves the job back to wait, without a failed event and with its attempts as they were.
          throw Worker.RateLimitError();
        }
        // Redis refused the pause: an ordinary failed attempt below, so the job waits on its
        // schedule instead of being taken again at once.
      }
      attempt.log('warn', { durationMs, err: errorSummary(error) }, 'job attempt failed');
      this.emit('attemptEnded', queue, 'failed', durationMs, job, tenant);
      throw error;
    } finally {
      this.active.delete(attempt);
      const current = this.slots.get(queue);
      if (current) current.active -= 1;
    }
  }
}

/**
 * How an attempt that threw ended, for its span: put off (back to delayed without an attempt: a
 * tenant's turn or hold), back to wait (a throttled peer, the CLI's budget), or failed.
 */
function attemptOutcome(error: unknown): 'failed' | 'put-off' | 'back-to-wait' {
  if (error instanceof DelayedError) return 'put-off';
  if (error instanceof WaitingError || error instanceof RateLimitError) return 'back-to-wait';
  return 'failed';
}
