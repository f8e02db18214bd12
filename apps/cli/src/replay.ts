import type { ArchivedFailure, Db, FailedJobArchive } from '@ceres/db';
import {
  decryptJobPayload,
  findJobDefinition,
  isQueueName,
  PayloadDecryptionError,
  PayloadValidationError,
  type JobType,
  type QueueClient,
} from '@ceres/queues';

export type ReplayOutcome =
  /** Back in its queue: `how` says whether Redis still held the failed job (retried there) or it was enqueued anew. */
  | { id: number; outcome: 'replayed'; how: 'retried-in-redis' | 'enqueued'; jobId: string }
  | { id: number; outcome: 'already-replayed'; retriedAt: string; jobId: string | null }
  | { id: number; outcome: 'not-found' }
  /** Nothing enqueued, the row stays replayable; `reason` says why. */
  | { id: number; outcome: 'not-replayed'; reason: string };

/**
 * Puts one archived failure back in its queue with its original job type and payload, at most
 * once: the row is claimed first (marked retried in the same UPDATE) and released again only
 * when nothing was enqueued.
 *
 * Redis may still hold the job under its id. Then an enqueue would be a duplicate (job types with
 * a `retention` or `pending-or-same-payload` window count a kept failed job as the same job), so
 * the failed job itself is retried with its attempts reset; a job of that id still pending or
 * kept as completed is left alone and reported.
 */
export async function replay(id: number, deps: { archive: FailedJobArchive; db: Db; client: QueueClient }): Promise<ReplayOutcome> {
  const { archive, client } = deps;
  const row = await archive.claimRetry(id);
  if (!row) {
    const existing = await archive.get(id);
    if (!existing) return { id, outcome: 'not-found' };
    return { id, outcome: 'already-replayed', retriedAt: existing.retriedAt!.toISOString(), jobId: existing.retriedJobId };
  }
  let done = false;
  try {
    const result = await replayClaimed(row, deps, client);
    if (result.outcome === 'replayed') {
      await archive.completeRetry(id, result.jobId);
      done = true;
    }
    return result;
  } finally {
    if (!done) await archive.releaseRetry(id);
  }
}

async function replayClaimed(row: ArchivedFailure, { db }: { db: Db }, client: QueueClient): Promise<ReplayOutcome> {
  const notReplayed = (reason: string): ReplayOutcome => ({ id: row.id, outcome: 'not-replayed', reason });
  if (!isQueueName(row.queue) || !findJobDefinition(row.queue, row.jobName)) {
    return notReplayed(`job type ${row.queue}/${row.jobName} is no longer declared`);
  }
  const queue = client.getQueue(row.queue);
  const existing = await queue.getJob(row.jobId);
  if (existing) {
    const state = await existing.getState();
    if (state === 'failed') {
      if (existing.finishedOn !== row.failedAt.getTime()) {
        // A later failure of the same id: replacing it is only safe once it is archived too.
        const archived = await db.failedJobs.has({ queue: row.queue, jobId: row.jobId, failedAt: new Date(existing.finishedOn!) });
        if (!archived)
          return notReplayed(
            `Redis holds a later failure of job ${row.jobId} that is not archived yet; retry that one with \`ceres-jobs retry ${row.queue} ${row.jobId}\``,
          );
        await queue.remove(row.jobId);
      } else {
        await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        return { id: row.id, outcome: 'replayed', how: 'retried-in-redis', jobId: row.jobId };
      }
    } else if (state !== 'completed') {
      return notReplayed(`job ${row.jobId} is ${state} in Redis already`);
    }
  }
  // The archive holds the payload as Redis had it (personal fields encrypted, `$digest`): the
  // enqueue validates and encrypts the plaintext again, with the current key.
  let payload: unknown;
  try {
    payload = decryptJobPayload(client.config.keyring, `${row.queue}/${row.jobName}`, row.payload);
  } catch (error) {
    if (error instanceof PayloadDecryptionError) return notReplayed(`cannot decrypt the archived payload: ${error.message}`);
    throw error;
  }
  try {
    const result = await client.enqueue(`${row.queue}/${row.jobName}` as JobType, payload as never);
    if (result.duplicate) return notReplayed(`job ${result.jobId} is kept in Redis and counts as the same job (its duplicate window)`);
    return { id: row.id, outcome: 'replayed', how: 'enqueued', jobId: result.jobId };
  } catch (error) {
    if (error instanceof PayloadValidationError)
      return notReplayed(
        `the archived payload no longer matches the job type's schema (${error.issues.map((issue) => issue.field).join(', ')})`,
      );
    throw error;
  }
}
