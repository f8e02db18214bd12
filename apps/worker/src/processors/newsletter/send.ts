import type { CampaignContent, Db } from '@ceres/db';
import { jobOptions, optOutAddressDigests, type QueueClient } from '@ceres/queues';
import { RateLimitError, UnrecoverableError } from 'bullmq';
import type { Mailer } from '../../deps/mailer';
import { announceIfDone } from '../../newsletter/announce';
import { newsletterMessage, type UnsubscribeLinks } from '../../newsletter/message';
import { errorSummary } from '../../redact';
import { findThrottled } from '../../throttled-error';
import { MailOutcomeUnknownError } from '../../mail/unknown-outcome';
import type { Processor } from '../types';

export type SendResult =
  { sent: true; messageId: string } | { skipped: 'unknown-recipient' | 'already-handled' | 'cancelled' | 'unsubscribed' | 'not-started' };

export interface SendDeps {
  mailer: Mailer;
  db: Pick<Db, 'newsletter'>;
  /** `config.keyring`: erased users' opt-outs are kept as keyed digests of their addresses. */
  queues: Pick<QueueClient, 'enqueue' | 'config'>;
  unsubscribe: UnsubscribeLinks;
}

const ATTEMPTS = jobOptions('newsletter', 'send').attempts ?? 1;

/** Subjects and bodies never change once created: read once per campaign and process, not per mail. */
const contents = new Map<string, CampaignContent>();
async function contentOf(db: SendDeps['db'], campaignId: string): Promise<CampaignContent | null> {
  const cached = contents.get(campaignId);
  if (cached) return cached;
  const content = await db.newsletter.content(campaignId);
  if (content) {
    if (contents.size >= 100) contents.delete(contents.keys().next().value!);
    contents.set(campaignId, content);
  }
  return content;
}

/**
 * Sends one campaign mail. The payload holds ids only: the address, the first name and the
 * campaign's state are read from PostgreSQL now, so a cancel or an opt-out made a moment ago is
 * honoured (a skip completes the job, no mail). The outcome is written to the recipient's row; a
 * row no longer pending is never mailed again, whatever re-runs the job. After the outcome, the
 * campaign is closed and announced if nobody is left.
 */
export const send: Processor<'newsletter/send', SendResult, SendDeps> = async (job, deps, ctx) => {
  const { campaignId, userId } = job.data;
  const store = deps.db.newsletter;
  const keyring = deps.queues.config.keyring;
  const context = await store.sendContext(campaignId, userId, keyring && ((email) => optOutAddressDigests(keyring, email)));
  if (!context) {
    ctx.logger.warn({ campaignId }, 'newsletter recipient not found; no mail sent');
    return { skipped: 'unknown-recipient' };
  }
  const skip = async (reason: 'cancelled' | 'unsubscribed'): Promise<SendResult> => {
    await store.recordOutcome(campaignId, userId, reason);
    await announceIfDone(campaignId, deps, ctx);
    ctx.logger.debug({ campaignId, skipped: reason }, 'newsletter mail skipped');
    return { skipped: reason };
  };
  if (context.status !== 'pending') {
    // A re-run (crash, retry after a failed announcement): the outcome is known; finish the close.
    await announceIfDone(campaignId, deps, ctx);
    return { skipped: context.status === 'cancelled' ? 'cancelled' : 'already-handled' };
  }
  if (context.state === 'cancelled') return skip('cancelled');
  if (context.state !== 'sending') return { skipped: 'not-started' };
  if (context.unsubscribed) return skip('unsubscribed');

  const content = await contentOf(deps.db, campaignId);
  if (!content) return { skipped: 'unknown-recipient' };
  const message = newsletterMessage(content, context, deps.unsubscribe, { campaignId, userId });
  let messageId: string;
  try {
    ({ messageId } = await deps.mailer.send(message, { signal: ctx.signal }));
  } catch (error) {
    if (error instanceof MailOutcomeUnknownError) {
      // The relay may have it: not pending any more, so that no re-run mails it a second time.
      await store.recordOutcome(campaignId, userId, 'sent', {
        messageId: error.messageId,
        error: 'unconfirmed: the attempt deadline cut the SMTP transaction',
      });
      await announceIfDone(campaignId, deps, ctx);
      ctx.logger.warn({ campaignId, messageId: error.messageId }, 'newsletter mail outcome unknown; recorded as sent, not sent again');
      throw error;
    }
    // Back-pressure is not an attempt (the runner puts the job back to wait, even on its last
    // attempt); a refusal for good, or the last attempt, is this recipient's outcome.
    const backPressure = error instanceof RateLimitError || findThrottled(error) !== undefined;
    const final = !backPressure && (error instanceof UnrecoverableError || job.attemptsMade + 1 >= ATTEMPTS);
    if (final) {
      await store.recordOutcome(campaignId, userId, 'failed', { error: errorSummary(error).message });
      await announceIfDone(campaignId, deps, ctx);
    }
    throw error;
  }
  // If this write fails the job is retried and may mail again: at least once, as every mail here.
  await store.recordOutcome(campaignId, userId, 'sent', { messageId });
  await announceIfDone(campaignId, deps, ctx);
  return { sent: true, messageId };
};

export default send;
