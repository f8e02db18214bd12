import { startTracing, stopTracing } from '@ceres/app-kit';
import type { QueueName } from '@ceres/queues';
import type { WorkerConfig } from '@ceres/worker';
import { UsageError } from '../errors';
import { settings, type CliContext } from '../context';
import type { Io } from '../output';

export interface WorkOptions {
  queue?: QueueName[];
  once?: boolean;
  stopWhenEmpty?: boolean;
  maxJobs?: number;
}

/** How often `--stop-when-empty` looks whether anything is left to take. */
const EMPTY_POLL_MS = 250;

/**
 * `work`: the worker of apps/worker (createWorkerApp: the same processors, retries, timeouts and
 * dead letters) in the foreground, optionally stopping after some jobs or once nothing is left.
 */
export async function work(ctx: CliContext, io: Io, options: WorkOptions): Promise<number> {
  if (options.once && options.maxJobs !== undefined)
    throw new UsageError('work: --once and --max-jobs exclude each other (--once is --max-jobs 1)');
  const limit = options.once ? 1 : options.maxJobs;
  // Loaded here: the worker's dependencies (sharp, nodemailer, …) would slow every other command's start.
  const { createLogger, createWorkerApp, loadWorkerConfig, processors } = await import('@ceres/worker');
  const config: WorkerConfig = settings(() => loadWorkerConfig(ctx.env));
  // A cron run against a server that is down ends at once with exit 3 instead of waiting for it.
  const admin = await ctx.admin();
  await ctx.database();

  let inFlight = 0;
  let admitted = 0;
  let finish: (() => void) | undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  // The budget: a job taken beyond it (another queue's worker fetched at the same moment) goes back
  // to wait untouched (RunnerOptions.admit); the last job allowed running, take no more: the
  // graceful stop lets it finish.
  const admit = () => {
    if (limit !== undefined && admitted >= limit) return false;
    admitted++;
    inFlight++;
    if (limit !== undefined && admitted >= limit) finish!();
    return true;
  };

  const logger = createLogger(config.logLevel);
  // As the worker: with OTEL_EXPORTER_OTLP_ENDPOINT set (checked with the worker's settings above),
  // each attempt and its SMTP/Slack call are spans of the job's trace; unset, nothing is loaded.
  await startTracing('ceres-jobs-work', ctx.env);
  // No queue takes more jobs at once than are allowed in all; the gate covers several queues.
  const app = createWorkerApp({ config, logger, processors, queues: options.queue, maxConcurrency: limit, admit });
  app.runner.jobs.on('attemptEnded', () => inFlight--);
  const queues = app.runner.queues;
  if (queues.length === 0) {
    await app.stop(true);
    await stopTracing().catch(() => {});
    throw new UsageError('work: none of the chosen queues can be consumed by this worker');
  }

  let signals = 0;
  let forced: Promise<never> | undefined;
  const onSignal = () => {
    signals++;
    if (signals > 1) {
      // Second signal: abort the active jobs (they come back as stalled jobs elsewhere).
      forced ??= app.stop(true).finally(() => process.exit(1)) as Promise<never>;
      return;
    }
    finish!();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let poll: NodeJS.Timeout | undefined;
  try {
    // A signal before the workers are ready stops as well.
    await Promise.race([app.started, finished]);
    // --once is for cron too: nothing to take means nothing to wait for.
    if (options.stopWhenEmpty || options.once) {
      const check = async () => {
        try {
          if (inFlight === 0) {
            const due = await Promise.all(queues.map((queue) => admin.hasWorkDue(queue)));
            if (inFlight === 0 && !due.some(Boolean)) return finish!();
          }
        } catch {
          // Redis gone for a moment: the worker waits for it, and so does this check.
        }
        poll = setTimeout(() => void check(), EMPTY_POLL_MS);
      };
      void check();
    }
    await finished;
  } catch (error) {
    await app.stop(true);
    await stopTracing().catch(() => {});
    throw error;
  } finally {
    clearTimeout(poll);
  }
  // The signal handlers stay until the end: a second signal while the active jobs finish aborts them.
  await app.runner.close();
  // Aborted by a second signal: its stop (the ledger's last flush included) ends with exit 1, not
  // this path's 0.
  if (forced) await forced;
  // The dead-letter listener runs after a job's last failure; record what it had no time for
  // before the connections close (idempotent, like every worker's startup reconciliation).
  await app.deadLetters.reconcile(queues).catch(() => {});
  await app.stop();
  await stopTracing().catch(() => {});
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  io.stderr.write(`ceres-jobs work: ${admitted} job(s) processed from ${queues.join(', ')}\n`);
  return 0;
}
