import { createHash } from 'node:crypto';
import type { Db } from '@ceres/db';
import type { QueueClient, QueueName } from '@ceres/queues';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { errorSummary, redactEmails } from './redact';
import { escapeSlack } from './slack-escape';

/** Jobs of this queue never raise an alert when they fail: the alert would be another slack job. */
const ALERT_QUEUE: QueueName = 'slack';

export interface DeadLettersOptions {
  db: Pick<Db, 'failedJobs'>;
  queues: Pick<QueueClient, 'enqueue' | 'getQueue'>;
  logger: Logger;
}

export type RecordOutcome = 'archived' | 'already-archived';

export interface DeadLetters {
  /** The Worker's `failed` listener: records the job when this was its last attempt. */
  onFailed(job: Job | undefined, error: Error): Promise<void>;
  /** Archives and alerts one job that is in its queue's failed set. Idempotent across processes. */
  record(job: Job): Promise<RecordOutcome>;
  /** Records every job of the queues' failed sets that was never archived; returns how many. */
  reconcile(queueNames: readonly QueueName[]): Promise<number>;
}

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

export function createDeadLetters({ db, queues, logger }: DeadLettersOptions): DeadLetters {
  const record = async (job: Job): Promise<RecordOutcome> => {
    const jobId = String(job.id);
    const failedAt = new Date(job.finishedOn!);
    if (await db.failedJobs.has({ queue: job.queueName, jobId, failedAt })) return 'already-archived';
    // Alert first, archive second: a crash in between leaves the job unarchived, so the next
    // startup's reconciliation retries both, and the deterministic alert id keeps it one alert.
    if (job.queueName !== ALERT_QUEUE) {
      await queues.enqueue('slack/alert', {
        text: deadLetterAlertText(job),
        severity: 'error',
        dedupeKey: deadLetterDedupeKey(job.queueName, jobId, job.finishedOn!),
      });
    }
    const inserted = await db.failedJobs.archive({
      queue: job.queueName,
      jobName: job.name,
      jobId,
      payload: job.data,
      error: job.failedReason || 'unknown reason',
      stacktrace: job.stacktrace?.join('\n---\n') || null,
      attemptsMade: job.attemptsMade,
      failedAt,
    });
    return inserted ? 'archived' : 'already-archived';
  };

  return {
    record,
    async onFailed(job, error) {
      // `finishedOn` is only set when BullMQ moved the job to the failed set for good; a failed
      // attempt that will be retried has none.
      if (!job || !job.finishedOn) return;
      const log = logger.child({ queue: job.queueName, job: job.name, jobId: job.id });
      try {
        const outcome = await record(job);
        log.warn({ err: errorSummary(error), attempts: job.attemptsMade, outcome }, 'job failed for good');
      } catch (recordError) {
        log.error({ err: errorSummary(recordError) }, 'could not record the dead letter; the next start reconciles it');
      }
    },
    async reconcile(queueNames) {
      let recorded = 0;
      for (const name of queueNames) {
        const queue = queues.getQueue(name);
        const page = 200;
        for (let start = 0; ; start += page) {
          const jobs = await queue.getFailed(start, start + page - 1);
          for (const job of jobs) {
            if (!job?.finishedOn) continue;
            if ((await record(job)) === 'archived') recorded++;
          }
          if (jobs.length < page) break;
        }
      }
      return recorded;
    },
  };
}
