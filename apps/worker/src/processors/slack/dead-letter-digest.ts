import type { QueueClient } from '@ceres/queues';
import type { WorkerConfig } from '../../config';
import { digestText, parseDigestBucket } from '../../dead-letter-digest';
import type { Slack, SlackDelivery } from '../../deps/slack';
import type { Processor } from '../types';

export interface DeadLetterDigestDeps {
  slack: Slack;
  queues: Pick<QueueClient, 'store'>;
  config: Pick<WorkerConfig, 'deadLetterDigestAfter'>;
}

export type DeadLetterDigestResult = { delivered: SlackDelivery; count: number } | { skipped: 'figures-expired' };

/**
 * Posts the digest of one queue's dead letters of one minute, read when it runs (just after the
 * minute ended, see dead-letters.ts), so it counts every one of them. Retried like an alert.
 */
export const deadLetterDigest: Processor<'slack/dead-letter-digest', DeadLetterDigestResult, DeadLetterDigestDeps> = async (
  job,
  deps,
  ctx,
) => {
  const { queue, minute } = parseDigestBucket(job.data.bucket);
  const figures = await deps.queues.store.readDeadLetterDigest(queue, minute);
  if (!figures) {
    // Only after hours of a paused slack queue: the archive still has every job.
    ctx.logger.warn({ bucket: job.data.bucket }, 'dead-letter digest: the figures expired; nothing posted');
    return { skipped: 'figures-expired' };
  }
  const text = `:x: ${digestText(queue, minute, figures, deps.config.deadLetterDigestAfter)}`;
  const { delivered } = await deps.slack.post({ text }, ctx.signal);
  return { delivered, count: figures.count };
};

export default deadLetterDigest;
