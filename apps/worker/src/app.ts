import type { QueueName } from '@ceres/queues';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config';
import { createDeadLetters, type DeadLetters } from './dead-letters';
import { buildDeps, closeDeps, type WorkerDeps } from './deps';
import { JobLedger } from './ledger';
import { newsletterDeadLetterHook } from './newsletter/dead-send';
import { processors as defaultProcessors, type PartialProcessorMap } from './processors';
import { errorSummary } from './redact';
import { upsertJobSchedulers } from './schedulers/job-schedulers';
import { closeOrGiveUp, type LeftJob } from './stop';
import { startWorkers, type Runner, type RunnerOptions, type StartWorkersOptions } from './worker-runner';

export interface WorkerAppOptions {
  config: WorkerConfig;
  logger: Logger;
  /** Replace some side effects (tests); the rest is built from `config`. */
  deps?: Partial<WorkerDeps>;
  /** @defaultValue every processor of `src/processors` */
  processors?: PartialProcessorMap;
  /** @defaultValue the registry's timeouts (see `RunnerOptions.timeoutFor`) */
  timeoutFor?: RunnerOptions['timeoutFor'];
  /** See `RunnerOptions.onStall`. */
  onStall?: StartWorkersOptions['onStall'];
  /** Upsert the job schedulers of the cron job types at start (those of consumed queues). @defaultValue true */
  schedulers?: boolean;
  /** Consume only these queues. @defaultValue every queue whose job types all have a processor */
  queues?: RunnerOptions['queues'];
  maxConcurrency?: RunnerOptions['maxConcurrency'];
  /** See `RunnerOptions.admit`. */
  admit?: RunnerOptions['admit'];
}

export interface WorkerApp {
  deps: WorkerDeps;
  runner: Runner;
  deadLetters: DeadLetters;
  /** The job ledger's buffer, flush and drain (ledger.ts). */
  ledger: JobLedger;
  /** Resolves when the workers take jobs; reconciliation of old failures runs in the background. */
  started: Promise<void>;
  /**
   * Graceful (or, with `force`, immediate) stop; closes every connection. With Redis unreachable it
   * does not wait for it: `left` lists the jobs given up to another worker's stalled-job check.
   */
  stop(force?: boolean): Promise<{ left: LeftJob[] }>;
}

/** Delays between reconciliation attempts while Redis or PostgreSQL is not reachable at startup. */
const RECONCILE_RETRY_MS = [1_000, 5_000, 15_000, 60_000];

/**
 * Takes the periodic reconciliation of one queue for the current interval, once across
 * instances: the first to set the interval's key (only if absent) runs it.
 */
function claimReconcileTick(deps: WorkerDeps, config: WorkerConfig, queue: QueueName): Promise<boolean> {
  return deps.queues.store.takeReconcileTick(queue, config.deadLetterReconcileIntervalMs, String(process.pid));
}

export function createWorkerApp({
  config,
  logger,
  deps: overrides,
  processors = defaultProcessors,
  timeoutFor,
  onStall,
  schedulers = true,
  queues,
  maxConcurrency,
  admit,
}: WorkerAppOptions): WorkerApp {
  const deps = buildDeps(config, logger, overrides);
  logger.info({ mail: deps.mailer.description, slack: deps.slack.description }, 'worker starting');
  if (!config.smtpUrl) logger.info({ outboxDir: config.outboxDir }, 'SMTP_URL is not set: mails are written as .eml files to the outbox');
  const deadLetters = createDeadLetters({
    db: deps.db,
    queues: deps.queues,
    logger,
    digestAfter: config.deadLetterDigestAfter,
    // A newsletter send that died without an outcome would leave its campaign open for ever.
    onDeadLetter: newsletterDeadLetterHook({ db: deps.db, queues: deps.queues }, logger),
  });
  const ledger = new JobLedger({
    store: deps.queues.store,
    db: deps.db.jobLedger,
    logger,
    maxPendingRows: config.jobLedgerMaxPendingRows,
  });
  const runner = startWorkers({
    config,
    deps,
    logger,
    processors,
    deadLetters,
    ledger,
    timeoutFor,
    onStall,
    queues,
    maxConcurrency,
    admit,
  });
  ledger.start();
  let stopping = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let periodicTimer: NodeJS.Timeout | undefined;

  // At every start: upsert the cron schedules, then reconcile the dead letters. BullMQ's events
  // are not replayed for a listener that was down: failures that happened while no worker
  // listened (or whose recording failed) are found in the failed sets instead.
  const schedules = schedulers ? config.schedules.filter((schedule) => runner.queues.includes(schedule.queue)) : [];
  let schedulesDone = schedules.length === 0;
  const reconcile = async (attempt = 0): Promise<void> => {
    if (stopping) return;
    try {
      if (!schedulesDone) {
        for (const queue of new Set(schedules.map((schedule) => schedule.queue))) {
          await upsertJobSchedulers(
            deps.queues.getQueue(queue),
            config.timeZone,
            logger,
            schedules.filter((schedule) => schedule.queue === queue),
          );
        }
        schedulesDone = true;
      }
      const { recorded, failed } = await deadLetters.reconcile(runner.queues);
      logger.info({ recorded, failed }, 'dead letters reconciled');
    } catch (error) {
      const delay = RECONCILE_RETRY_MS[attempt];
      logger.warn({ err: errorSummary(error), retryInMs: delay }, 'startup tasks (schedules, dead-letter reconciliation) failed');
      if (delay !== undefined && !stopping) retryTimer = setTimeout(() => void reconcile(attempt + 1), delay);
    }
  };

  // Every interval, one instance per queue reconciles again: failures whose recording failed and
  // were not retried (a crash, the retry list full) are found within a minute, not at the next start.
  const periodic = async () => {
    for (const queue of runner.queues) {
      if (stopping) return;
      try {
        if (!(await claimReconcileTick(deps, config, queue))) continue;
        const { recorded, failed } = await deadLetters.reconcile([queue]);
        logger[recorded > 0 || failed > 0 ? 'info' : 'debug']({ queue, recorded, failed }, 'dead letters reconciled (periodic)');
      } catch (error) {
        logger.warn({ queue, err: errorSummary(error) }, 'periodic dead-letter reconciliation failed; the next tick retries');
      }
    }
  };
  const schedulePeriodic = () => {
    if (stopping) return;
    // Ticks start just after an interval boundary in every instance, so all of them ask for the
    // same interval's key and one runs; the jitter spreads the others' SET calls.
    const interval = config.deadLetterReconcileIntervalMs;
    const delay = interval - (Date.now() % interval) + Math.floor(Math.random() * Math.min(1_000, interval / 10));
    periodicTimer = setTimeout(() => void periodic().finally(schedulePeriodic), delay);
  };

  const started = runner.ready().then(() => {
    logger.info({ queues: runner.queues }, 'worker ready');
    void reconcile();
    schedulePeriodic();
  });
  started.catch(() => {});

  return {
    deps,
    runner,
    deadLetters,
    ledger,
    started,
    async stop(force = false) {
      stopping = true;
      clearTimeout(retryTimer);
      clearTimeout(periodicTimer);
      deadLetters.stop();
      const { left } = await closeOrGiveUp({
        closing: runner.close(force),
        workers: runner.workers.values(),
        activeJobs: () => runner.activeJobs(),
        outage: runner.outage,
        lockDurationMs: config.lockDurationMs,
        force,
        abandon: () => runner.abandon(),
      });
      if (left.length > 0) {
        logger.error(
          { jobs: left },
          'stopped with jobs left to the stalled-job check: redis is unreachable, their outcome is not recorded and their locks expire',
        );
      }
      // The rows of the jobs just finished: to Redis, then one turn at writing them to PostgreSQL.
      // With Redis down the push fails at once: the rows of this process's last second are lost.
      await ledger.stop();
      // The producer's connection has no offline queue: with Redis down its quit fails at once.
      await closeDeps(deps);
      return { left };
    },
  };
}
