import { tenantOfData } from '@ceres/queues';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { redactEmails } from '../redact';
import { announceIfDone, type AnnounceDeps } from './announce';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The dead-letter hook of the newsletter lane. A `newsletter/send` job that dies outside its
 * processor's own catch (stalled twice, an attempt timeout, PostgreSQL down for its whole retry
 * schedule) decided nothing: its recipient would stay `pending` and the campaign never close. Its
 * dead letter gives the recipient the outcome `failed` (if still pending) and closes and announces
 * the campaign if nobody is left. Idempotent: it runs again with every retry of the recording.
 */
export function newsletterDeadLetterHook(deps: AnnounceDeps, logger: Logger): (job: Job) => Promise<void> {
  const signal = new AbortController().signal;
  return async (job) => {
    if (job.queueName !== 'newsletter' || job.name !== 'send') return;
    const { campaignId, userId } = (job.data ?? {}) as { campaignId?: unknown; userId?: unknown };
    // A payload that names no recipient (written into Redis by something else) has nothing to close.
    if (typeof campaignId !== 'string' || !UUID.test(campaignId) || typeof userId !== 'string') return;
    const reason = redactEmails(job.failedReason || 'unknown reason');
    if (await deps.db.newsletter.failIfPending(campaignId, userId, reason)) {
      logger.warn({ campaignId, jobId: job.id }, 'newsletter send died without an outcome; recipient recorded failed');
    }
    await announceIfDone(campaignId, deps, { logger, signal, tenant: tenantOfData(job.data) });
  };
}
