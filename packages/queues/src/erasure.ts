import type { JobType as BullJobType } from 'bullmq';
import type { QueueClient } from './client';
import { QUEUE_NAMES, type QueueName } from './registry';

/** Every state a job can be in; active jobs are tried too (BullMQ refuses while one runs). */
const STATES: BullJobType[] = ['waiting', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed', 'active'];
const PAGE = 1000;

export interface UserJobsErasure {
  /** Jobs removed, all queues. */
  removed: number;
  /** Per queue. */
  byQueue: Record<QueueName, number>;
  /** Jobs of the user running right now: BullMQ cannot remove a locked job; erase again once they finished. */
  running: number;
}

/**
 * Removes every job whose payload's `userId` is `userId`, in every queue and state. Job ids are
 * matched on the payload's `userId` (never encrypted), so it needs no decryption key.
 */
export async function eraseUserJobs(client: QueueClient, userId: string): Promise<UserJobsErasure> {
  const byQueue = Object.fromEntries(QUEUE_NAMES.map((name) => [name, 0])) as Record<QueueName, number>;
  let running = 0;
  for (const name of QUEUE_NAMES) {
    const queue = client.getQueue(name);
    // Ids first, then removals: removing while paging would shift the pages.
    const ids = new Set<string>();
    for (let start = 0; ; start += PAGE) {
      const jobs = await queue.getJobs(STATES, start, start + PAGE - 1, true);
      for (const job of jobs) {
        if (job?.id && (job.data as { userId?: unknown } | undefined)?.userId === userId) ids.add(job.id);
      }
      if (jobs.length < PAGE) break;
    }
    for (const id of ids) {
      // 1: removed; 0: gone meanwhile or locked by a worker running it.
      if ((await queue.remove(id)) === 1) byQueue[name] += 1;
      else if (await queue.getJob(id)) running += 1;
    }
  }
  return { removed: Object.values(byQueue).reduce((sum, count) => sum + count, 0), byQueue, running };
}
