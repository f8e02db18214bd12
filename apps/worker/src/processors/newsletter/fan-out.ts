import type { Db } from '@ceres/db';
import type { QueueClient } from '@ceres/queues';
import { announceIfDone } from '../../newsletter/announce';
import type { Processor } from '../types';

export interface FanOutDeps {
  db: Pick<Db, 'newsletter'>;
  queues: Pick<QueueClient, 'enqueue' | 'enqueueBulk' | 'getQueue'>;
}

export interface FanOutResult {
  enqueued: number;
  /** Jobs that existed already: a fan-out run again after an interruption. */
  duplicates: number;
  stopped?: 'cancelled';
}

/** Recipients per `enqueueBulk`: one round trip and one PostgreSQL page each. */
export const FAN_OUT_PAGE = 500;

/** Every send job has the same priority: prioritized jobs are FIFO among themselves, and removable in O(log n). */
export const SEND_PRIORITY = 1;

/**
 * Enqueues one `newsletter/send` per pending recipient, a page at a time in user id order. The
 * job ids are deterministic, so a fan-out that is interrupted and run again adds only the jobs
 * that are missing; a recipient whose row is no longer pending is skipped by its send job anyway.
 * A cancel stops it at the next page, and the jobs of the page it was adding are removed.
 */
export const fanOut: Processor<'newsletter/fan-out', FanOutResult, FanOutDeps> = async (job, deps, ctx) => {
  const { campaignId } = job.data;
  const store = deps.db.newsletter;
  const result: FanOutResult = { enqueued: 0, duplicates: 0 };
  const cancelled = async () => (await store.state(campaignId)) !== 'sending';
  let after: string | null = null;
  for (;;) {
    ctx.signal.throwIfAborted();
    if (await cancelled()) {
      result.stopped = 'cancelled';
      break;
    }
    const page = await store.pendingPage(campaignId, after, FAN_OUT_PAGE);
    if (page.length === 0) break;
    const added = await deps.queues.enqueueBulk(
      'newsletter/send',
      page.map((userId) => ({ campaignId, userId })),
      { priority: SEND_PRIORITY, tenant: ctx.tenant },
    );
    for (const { duplicate } of added) result[duplicate ? 'duplicates' : 'enqueued'] += 1;
    after = page.at(-1)!;
    if (await cancelled()) {
      // The cancel removed the jobs it could see; these were being added meanwhile.
      const queue = deps.queues.getQueue('newsletter');
      await Promise.all(added.map(({ jobId }) => queue.remove(jobId).catch(() => 0)));
      result.stopped = 'cancelled';
      break;
    }
    await job.updateProgress({ enqueued: result.enqueued, duplicates: result.duplicates });
  }
  ctx.logger.info({ campaignId, ...result }, 'newsletter fan-out finished');
  // A campaign without recipients, or one whose every recipient was handled already, ends here.
  await announceIfDone(campaignId, deps, ctx);
  return result;
};

export default fanOut;
