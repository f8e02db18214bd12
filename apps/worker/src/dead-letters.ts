import { createHash } from 'node:crypto';
import type { Db, FailedJobRow } from '@ceres/db';
import { ALERT_QUEUE, tenantOfData, type QueueClient, type QueueName } from '@ceres/queues';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { digestBucket, digestReason } from './dead-letter-digest';
import { errorSummary, redactEmails } from './redact';
import { escapeSlack } from './slack-escape';

export interface DeadLettersOptions {
  db: Pick<Db, 'failedJobs'>;
  queues: Pick<QueueClient, 'enqueue' | 'getQueue' | 'store'>;
  logger: Logger;
  /**
   * Dead letters of one queue per minute alerted one by one, across every worker process; the
   * others are counted into one digest per queue and minute.
   * @defaultValue 5 (`DEAD_LETTER_DIGEST_AFTER`)
   */
  digestAfter?: number;
  /**
   * Delays between attempts to record a dead letter whose first recording failed (PostgreSQL or
   * Redis down); the last one repeats until it is recorded or the worker stops.
   * @defaultValue 1 s, 2 s, 5 s, then every 10 s
   */
  retryDelaysMs?: readonly number[];
  /**
   * Runs for every final failure before its alert and archive, and again with each retry of the
   * recording (so it must be idempotent); when it throws, the recording is retried.
   */
  onDeadLetter?: (job: Job) => Promise<void>;
}

export type RecordOutcome = 'archived' | 'already-archived';

export interface ReconcileResult {
  /** Jobs archived by this run. */
  recorded: number;
  /** Jobs whose recording failed; each was logged with its id, the others went on. */
  failed: number;
}

export interface DeadLetters {
  /** The Worker's `failed` listener: records the job when this was its last attempt, retrying while that fails. */
  onFailed(job: Job | undefined, error: Error): Promise<void>;
  /**
   * Archives and alerts one job that is in its queue's failed set. Idempotent across processes.
   * `archived: false` skips the archive check (the caller made it for a whole page).
   */
  record(job: Job, known?: { archived: false }): Promise<RecordOutcome>;
  /**
   * Records every job of the queues' failed sets that was never archived: one archive query per
   * page of 200 jobs, then job by job, a failing job logged and skipped.
   */
  reconcile(queueNames: readonly QueueName[]): Promise<ReconcileResult>;
  /** Dead letters waiting for a retry of their recording. */
  readonly pending: number;
  /** Stops the retries (on shutdown); the next reconciliation finds what is left. */
  stop(): void;
}

const RECONCILE_PAGE = 200;
/** Bounds the memory of retries during a long outage; the periodic reconciliation finds the rest. */
const MAX_PENDING = 10_000;
/** The digest runs this long after its minute ended: dead letters being recorded then are in. */
const DIGEST_GRACE_MS = 3_000;

/**
 * The alert's dedupe key: the same final failure always gives the same key in every process
 * (queue, job id, finishedOn), so the alert job id is deterministic. Job ids may contain ':',
 * which dedupe keys may not; the hash keeps two ids that sanitise alike apart.
 */
export function deadLetterDedupeKey(queue: string, jobId: string, finishedOn: number): string {
  const safe = jobId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
  const hash = createHash('sha256').update(`${queue}\n${jobId}`).digest('hex').slice(0, 10);
  return `dead-${queue}-${safe}-${finishedOn}-${hash}`;
}

export function deadLetterAlertText(job: Pick<Job, 'queueName' | 'name' | 'id' | 'attemptsMade' | 'failedReason'>): string {
  // Ids and reasons come from job data (file keys, error texts): escaped, so they cannot mention anyone.
  const reason = escapeSlack(redactEmails(job.failedReason || 'unknown reason').slice(0, 500));
  return [
    `Job failed for good: queue *${escapeSlack(job.queueName)}*, job *${escapeSlack(job.name)}*, id \`${escapeSlack(String(job.id))}\``,
    `after ${job.attemptsMade} attempt(s). Reason: ${reason}`,
  ].join('\n');
}

/** The `failed_jobs` row of a final failure. */
function archiveRow(job: Job): FailedJobRow {
  return {
    queue: job.queueName,
    jobName: job.name,
    jobId: String(job.id),
    payload: job.data,
    error: job.failedReason || 'unknown reason',
    stacktrace: job.stacktrace?.join('\n---\n') || null,
    attemptsMade: job.attemptsMade,
    failedAt: new Date(job.finishedOn!),
  };
}

export function createDeadLetters({
  db,
  queues,
  logger,
  retryDelaysMs = [1_000, 2_000, 5_000, 10_000],
  digestAfter = 5,
  onDeadLetter,
}: DeadLettersOptions): DeadLetters {
  /**
   * One alert per dead letter while its queue had at most `digestAfter` in the minute; beyond,
   * the minute's digest (enqueued by every dead letter past the threshold: the deterministic id
   * keeps it one, and a recording retried after a failed enqueue asks again).
   */
  const alert = async (job: Job, jobId: string): Promise<void> => {
    const { minute, rank } = await queues.store.countDeadLetter({ queue: job.queueName, jobId, reason: digestReason(job.failedReason) });
    if (rank <= digestAfter) {
      // The tenant's dead letter goes to its own Slack webhook when it has one (the digest stays the platform's).
      await queues.enqueue(
        'slack/alert',
        { text: deadLetterAlertText(job), severity: 'error', dedupeKey: deadLetterDedupeKey(job.queueName, jobId, job.finishedOn!) },
        { tenant: tenantOfData(job.data) },
      );
      return;
    }
    await queues.enqueue(
      'slack/dead-letter-digest',
      { bucket: digestBucket(job.queueName, minute) },
      { delay: Math.max((minute + 1) * 60_000 + DIGEST_GRACE_MS - Date.now(), 0) },
    );
  };

  const record = async (job: Job, known?: { archived: false }): Promise<RecordOutcome> => {
    const jobId = String(job.id);
    await onDeadLetter?.(job);
    const failedAt = new Date(job.finishedOn!);
    if (!known) {
      let archived = false;
      try {
        archived = await db.failedJobs.has({ queue: job.queueName, jobId, failedAt });
      } catch (error) {
        // The archive cannot be asked (PostgreSQL down): alert anyway, the alert id keeps it one
        // alert, and the insert below fails and is retried.
        logger.debug({ queue: job.queueName, jobId, err: errorSummary(error) }, 'archive check failed; alerting anyway');
      }
      if (archived) return 'already-archived';
    }
    // Alert first, archive second: a crash in between leaves the job unarchived, so the next
    // reconciliation retries both, and the deterministic alert id keeps it one alert.
    // A failed alert raises no alert: it would be another job of the same queue.
    if (job.queueName !== ALERT_QUEUE) await alert(job, jobId);
    return (await db.failedJobs.archive(archiveRow(job))) ? 'archived' : 'already-archived';
  };

  /**
   * One page of the failed set not yet archived: the alerts go out together (the producer batches
   * them), then the rows in one INSERT. A job whose alert failed is left for the next pass (alert
   * first, as in `record`); a refused batch falls back to one job at a time, so one row that cannot
   * be stored holds back no other.
   */
  const recordPage = async (name: QueueName, jobs: Job[], result: ReconcileResult): Promise<void> => {
    const alerted = await Promise.allSettled(
      jobs.map(async (job) => {
        await onDeadLetter?.(job);
        if (job.queueName !== ALERT_QUEUE) await alert(job, String(job.id));
      }),
    );
    const ready: Job[] = [];
    alerted.forEach((outcome, index) => {
      const job = jobs[index]!;
      if (outcome.status === 'fulfilled') ready.push(job);
      else {
        result.failed++;
        logger.error(
          { queue: name, job: job.name, jobId: job.id, err: errorSummary(outcome.reason) },
          'could not record a dead letter during reconciliation',
        );
      }
    });
    try {
      result.recorded += await db.failedJobs.archiveMany(ready.map(archiveRow));
    } catch {
      for (const job of ready) {
        try {
          if ((await record(job, { archived: false })) === 'archived') result.recorded++;
        } catch (error) {
          result.failed++;
          logger.error(
            { queue: name, job: job.name, jobId: job.id, err: errorSummary(error) },
            'could not record a dead letter during reconciliation',
          );
        }
      }
    }
  };

  /**
   * A retry records the job as its queue has it now, not the copy in memory: a job removed
   * meanwhile (an erasure, an operator's clean) is not archived again with the user's data. A
   * removal racing the archive is caught by looking again after it: the row is deleted then (an
   * erasure removes the jobs before its last pass over failed_jobs, so one of the two sees it).
   */
  const recordIfStillThere = async (memory: Job): Promise<RecordOutcome | 'gone'> => {
    const queue = queues.getQueue(memory.queueName as QueueName);
    const jobId = String(memory.id);
    const current = await queue.getJob(jobId);
    if (!current || current.finishedOn !== memory.finishedOn) return 'gone';
    const outcome = await record(current);
    if (outcome === 'archived' && !(await queue.getJob(jobId))) {
      await db.failedJobs.delete({ queue: memory.queueName, jobId, failedAt: new Date(memory.finishedOn!) });
      return 'gone';
    }
    return outcome;
  };

  // Dead letters whose recording failed, retried on a timer until recorded.
  const pending = new Map<string, { job: Job; attempt: number; timer: NodeJS.Timeout }>();
  let stopped = false;
  const retry = (key: string, job: Job, attempt: number) => {
    if (stopped) return;
    if (!pending.has(key) && pending.size >= MAX_PENDING) return;
    const delay = retryDelaysMs[Math.min(attempt, retryDelaysMs.length - 1)] ?? 10_000;
    const timer = setTimeout(() => {
      void recordIfStillThere(job).then(
        (outcome) => {
          pending.delete(key);
          if (outcome === 'gone')
            logger.info(
              { queue: job.queueName, job: job.name, jobId: job.id },
              'dead letter removed from its queue meanwhile (erased?); not recorded',
            );
          else
            logger.warn(
              { queue: job.queueName, job: job.name, jobId: job.id, attempts: job.attemptsMade, outcome, retries: attempt + 1 },
              'job failed for good',
            );
        },
        (error) => {
          logger.debug({ queue: job.queueName, jobId: job.id, err: errorSummary(error) }, 'dead letter still not recorded; retrying');
          retry(key, job, attempt + 1);
        },
      );
    }, delay);
    timer.unref();
    pending.set(key, { job, attempt, timer });
  };

  return {
    record,
    get pending() {
      return pending.size;
    },
    stop() {
      stopped = true;
      for (const { timer } of pending.values()) clearTimeout(timer);
      pending.clear();
    },
    async onFailed(job, error) {
      // `finishedOn` is only set when BullMQ moved the job to the failed set for good; a failed
      // attempt that will be retried has none.
      if (!job || !job.finishedOn) return;
      const log = logger.child({ queue: job.queueName, job: job.name, jobId: job.id });
      try {
        const outcome = await record(job);
        log.warn({ err: errorSummary(error), attempts: job.attemptsMade, outcome }, 'job failed for good');
      } catch (recordError) {
        log.error(
          { err: errorSummary(error), recordErr: errorSummary(recordError) },
          'job failed for good; could not record the dead letter, retrying',
        );
        retry(`${job.queueName}\n${job.id}\n${job.finishedOn}`, job, 0);
      }
    },
    async reconcile(queueNames) {
      const result: ReconcileResult = { recorded: 0, failed: 0 };
      for (const name of queueNames) {
        const queue = queues.getQueue(name);
        for (let start = 0; ; start += RECONCILE_PAGE) {
          const page = await queue.getFailed(start, start + RECONCILE_PAGE - 1);
          const jobs = page.filter((job): job is Job => Boolean(job?.finishedOn));
          const archived = await db.failedJobs.archivedAmong(
            name,
            jobs.map((job) => ({ jobId: String(job.id), failedAt: new Date(job.finishedOn!) })),
          );
          await recordPage(
            name,
            jobs.filter((_, index) => !archived.has(index)),
            result,
          );
          if (page.length < RECONCILE_PAGE) break;
        }
      }
      return result;
    },
  };
}
