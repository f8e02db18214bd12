import { queueLimiter, subscribeToPauses, TenantCounts, tenantOfData, type QueueName } from '@ceres/queues';
import type { Worker } from 'bullmq';
import { ActivityLog } from './activity-log';
import { alertTransitions } from './breakers/alerts';
import { BreakerBoard } from './breakers/board';
import { timeJobs } from './job-timings';
import type { DeadLetters } from './dead-letters';
import type { JobLedger } from './ledger';
import { errorSummary } from './redact';
import type { RedisOutage } from './redis-outage';
import { JobRunner, type RunnerOptions } from './runner/job-runner';
import type { LeftJob } from './stop';
import { StallWatchdog } from './stall-watchdog';
import { TenantDelivery } from './tenants/delivery';
import { TenantDirectory } from './tenants/directory';
import { TenantGate } from './tenants/gate';

export { consumableQueues, type RunnerOptions } from './runner/job-runner';

export interface StartWorkersOptions extends RunnerOptions {
  deadLetters: DeadLetters;
  /**
   * Records each job's outcome in the job ledger (ledger.ts): one row in memory per job, pushed to
   * Redis by the ledger's own timer. The worker app passes one; absent: no ledger.
   */
  ledger?: JobLedger;
  /**
   * A worker stayed stalled after a rebuild (see stall-watchdog.ts).
   * @defaultValue logs only; `main.ts` exits non-zero so PM2 restarts the process
   */
  onStall?: (queue: QueueName) => void;
}

export interface Runner {
  /** The queues consumed by this process. */
  readonly queues: QueueName[];
  readonly workers: ReadonlyMap<QueueName, Worker>;
  /** The runner itself, for subscribers of its events. */
  readonly jobs: JobRunner;
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

/**
 * The worker's machinery, wired by events: the runner (one BullMQ Worker per consumable queue and
 * the per-job pipeline), and its subscribers — the activity log, the stall watchdog, the dead
 * letters — and the back-pressure subscription that holds the runner's queues during a pause.
 */
export function startWorkers({ deadLetters, ledger, onStall = () => {}, ...options }: StartWorkersOptions): Runner {
  const { config, deps, logger } = options;
  const directory = new TenantDirectory({
    store: deps.db.tenants,
    keyring: config.queues.keyring,
    logger,
    refreshMs: config.tenantsRefreshMs,
  });
  const delivery = new TenantDelivery(deps, directory, logger);
  const breakers =
    config.breakers.failures > 0 ? new BreakerBoard(deps.queues.store, config.breakers, logger).start(config.queues) : undefined;
  if (breakers) alertTransitions(breakers, deps.queues, logger);
  const runner = new JobRunner({
    ...options,
    tenancy: { gate: new TenantGate(directory, deps.queues.store, config.tenantParkMs), delivery },
    breakers,
  });
  const activity = new ActivityLog(logger, config.activityLogMs).watch(runner);
  const watchdog = new StallWatchdog(runner, {
    intervalMs: config.stallCheckMs,
    logger,
    limiterMax: (queue) => queueLimiter(config.rates[queue]).max,
    queue: (queue) => deps.queues.getQueue(queue),
  });
  watchdog.on('gaveUp', onStall);
  runner.on('jobFailed', (job, error) => void deadLetters.onFailed(job, error));
  const tenantCounts = countPerTenant(runner, options);
  const timings = timeJobs(runner, options);
  if (ledger) recordInLedger(runner, ledger);
  // The tenants are read before the first job is taken (a failed read is logged; all then run as unconfigured).
  const started = directory.start().then(() => {
    if (!closing) runner.start();
  });
  watchdog.start();
  const pauses = subscribeToPauses(
    config.queues,
    runner.queues,
    (queue) => deps.queues.getQueue(queue).getRateLimitTtl(queueLimiter(config.rates[queue]).max),
    ({ queue, ms }) => runner.hold(queue, ms),
    (error) =>
      logger.warn(
        { err: errorSummary(error) },
        'back-pressure subscription: could not read or subscribe; pauses of other processes may be missed until it reconnects',
      ),
  );
  let closing: Promise<void> | undefined;
  return {
    queues: runner.queues,
    get workers() {
      return runner.workers;
    },
    jobs: runner,
    ready: () => started.then(() => runner.ready()),
    activeJobs: () => runner.activeJobs(),
    outage: runner.outage,
    abandon: () => runner.abandon(),
    close: (force = false) => {
      watchdog.stop();
      const closed = runner.close(force);
      directory.stop();
      closing ??= closed.then(async () => {
        await Promise.all([tenantCounts.stop(), timings.stop()]);
        await pauses.close();
        await breakers?.stop();
        activity.stop();
        delivery.close();
      });
      return force ? closed.then(() => closing) : closing;
    },
  };
}

/** Each job that completed, or failed for good, as one row of the job ledger (in memory until its flush). */
function recordInLedger(runner: JobRunner, ledger: JobLedger) {
  runner.on('workerStarted', (name) => {
    runner.workers
      .get(name)
      ?.on('completed', (job) => ledger.record(job, 'completed'))
      // `finishedOn` is set only when the job failed for good (as the dead letters read it).
      .on('failed', (job) => {
        if (job?.finishedOn) ledger.record(job, 'failed');
      });
  });
}

/** How often a worker process adds its per-tenant counts to Redis. */
const TENANT_COUNTS_FLUSH_MS = 5_000;

/**
 * Counts the jobs completed and failed for good per tenant (queues-ui's
 * `ceres_queue_tenant_jobs_completed_total` and `…_failed_total`): in memory as BullMQ's workers
 * report them, added to Redis every {@link TENANT_COUNTS_FLUSH_MS} and when the workers close
 * (tenant-metrics.ts), so a job costs no Redis command of its own.
 */
function countPerTenant(runner: JobRunner, { deps, logger }: RunnerOptions) {
  const counts = new TenantCounts();
  runner.on('workerStarted', (name) => {
    const queue = deps.queues.getQueue(name);
    runner.workers
      .get(name)
      ?.on('completed', (job) => counts.add(queue, 'completed', tenantOfData(job.data)))
      // `finishedOn` is set only when the job failed for good (as the dead letters read it).
      .on('failed', (job) => {
        if (job?.finishedOn) counts.add(queue, 'failed', tenantOfData(job.data));
      });
  });
  const flush = () =>
    deps.queues.store
      .flushTenantCounts(counts)
      .catch((error: unknown) =>
        logger.warn({ err: errorSummary(error) }, 'could not add the per-tenant job counts to Redis; kept for the next try'),
      );
  const timer = setInterval(() => void flush(), TENANT_COUNTS_FLUSH_MS);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await flush();
    },
  };
}
