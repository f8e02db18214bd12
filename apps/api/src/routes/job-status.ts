import type { JobLedgerStore } from '@ceres/db';
import { isQueueName, QUEUE_NAMES, QueueUnavailableError, scopedJobId, tenantOfData, type QueueClient } from '@ceres/queues';
import { maskEmails } from '@ceres/app-kit';

/** A status read enqueues nothing by nature: its 503 says what could not be done. */
const statusUnavailable = () => queueUnavailable('the job status could not be read (Redis cannot be reached); try again shortly');
import type { Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { errorResponses, HttpError, queueUnavailable } from '@ceres/http';
import { isApiJobId, isPlatformJob } from '../enqueue/status-scope';
import { JobStatus, JobStatusParams } from '../schemas/jobs';

/** The job ledger cannot be read: the status of a job Redis no longer holds is unknown for now. */
const ledgerUnavailable = () =>
  new HttpError('DATABASE_UNAVAILABLE', 'the job status could not be read (PostgreSQL cannot be reached); try again shortly');

/**
 * `GET /jobs/:queue/:jobId`: the state of one job; once Redis dropped it (its retention), its row
 * in the job ledger; 404 when neither holds it.
 */
export const jobStatusRoutes: FastifyPluginAsync<{ queues: QueueClient; ledger: Pick<JobLedgerStore, 'latest'> }> = async (
  app,
  { queues, ledger },
) => {
  app.get<{ Params: Static<typeof JobStatusParams> }>(
    '/jobs/:queue/:jobId',
    {
      // The status of the tenant's own jobs goes with enqueueing them.
      config: { tokenScope: 'enqueue' },
      schema: {
        summary: 'Read the state of a job',
        description:
          'URL-encode the job id (file keys may contain "/"). Payloads are not returned. A job Redis no longer holds (past its retention) is answered from the job ledger in PostgreSQL, kept JOB_LEDGER_RETENTION_DAYS: state `completed` or `failed`, `progress` null, `returnValue` only for job types that keep it.',
        tags: ['status'],
        security: [{ bearer: [] }],
        params: JobStatusParams,
        response: { 200: JobStatus, ...errorResponses },
      },
    },
    async (request): Promise<Static<typeof JobStatus>> => {
      const { queue, jobId } = request.params;
      if (!isQueueName(queue)) {
        throw new HttpError('UNKNOWN_QUEUE', `unknown queue "${queue.slice(0, 100)}"; known queues: ${QUEUE_NAMES.join(', ')}`, {
          known: QUEUE_NAMES,
        });
      }
      // The same answer for an unknown id and for another tenant's job, so ids cannot be probed.
      const notFound = () => new HttpError('JOB_NOT_FOUND', `no job "${jobId.slice(0, 600)}" in queue ${queue}`);
      // Only jobs the caller could have enqueued: never BullMQ's own keys nor maintenance jobs.
      if (!isApiJobId(queue, jobId)) throw notFound();
      // The id the tenant knows (`email:verify:user-123`) is `acme@email:verify:user-123` in Redis.
      const { tenant } = request;
      const redisId = scopedJobId(tenant, jobId);
      try {
        // Checked first: a BullMQ Queue first used while Redis is down would not recover.
        await queues.ready();
        const bullQueue = queues.getQueue(queue);
        // State first, then the job: a job that finishes in between shows its final fields with
        // the earlier state, never a final state with fields missing. Both go in one pipeline.
        const [state, job] = await Promise.all([bullQueue.getJobState(redisId), bullQueue.getJob(redisId)]);
        if (!job) {
          // Gone from Redis: its outcome, if the ledger has it (the same tenant check, on its row).
          const row = await ledger.latest(queue, redisId).catch((error: unknown) => {
            request.log.warn({ err: error }, 'cannot read the job ledger');
            throw ledgerUnavailable();
          });
          if (!row || !isPlatformJob(queue, row.jobType) || row.tenant !== tenant) throw notFound();
          return {
            jobId,
            queue,
            job: row.jobType,
            state: row.state,
            progress: null,
            attemptsMade: row.attempts,
            failedReason: row.error === null ? null : maskEmails(row.error),
            returnValue: row.result ?? null,
            timestamps: {
              createdAt: row.enqueuedAt.getTime(),
              processedAt: row.startedAt?.getTime() ?? null,
              finishedAt: row.finishedAt.getTime(),
            },
          };
        }
        // A numbered id is global: the job's data says whose it is.
        if (!isPlatformJob(queue, job.name) || tenantOfData(job.data) !== tenant) throw notFound();
        return {
          jobId,
          queue,
          job: job.name,
          state,
          progress: job.progress,
          attemptsMade: job.attemptsMade,
          // Masked here too: jobs that failed before the mailer masked its errors quote the address.
          failedReason: job.failedReason ? maskEmails(job.failedReason) : null,
          returnValue: job.returnvalue ?? null,
          timestamps: { createdAt: job.timestamp, processedAt: job.processedOn ?? null, finishedAt: job.finishedOn ?? null },
        };
      } catch (error) {
        if (error instanceof QueueUnavailableError || (!(error instanceof HttpError) && queues.isOutage(error))) throw statusUnavailable();
        throw error;
      }
    },
  );
};
