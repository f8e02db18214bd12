import type { Db } from '@ceres/db';
import type { Clock } from '../../deps/clock';
import type { Mailer } from '../../deps/mailer';
import { sendOnce } from '../../mail/send-once';
import { verifyEmail } from './verify.template';
import type { Processor } from '../types';

export type VerifyResult = { sent: true; messageId: string } | { skipped: 'token-expired' | 'token-unknown' };

export interface VerifyDeps {
  mailer: Mailer;
  db: Pick<Db, 'tokens' | 'sentMails'>;
  clock: Clock;
  appUrl: string;
}

/**
 * Sends the verification mail, but only for a token that still exists, belongs to the user (of the job's tenant) and
 * has not expired: a mail with a dead link helps nobody. A skip completes the job (no retry). A
 * re-run of a job whose mail is recorded as sent does not send it again.
 */
export const verify: Processor<'email/verify', VerifyResult, VerifyDeps> = async (job, deps, ctx) => {
  const { userId, email, firstName, token } = job.data;
  const stored = await deps.db.tokens.find(token);
  // A user id is unique within a tenant only: another tenant's token of the same id is not theirs.
  if (!stored || stored.userId !== userId || stored.tenant !== ctx.tenant) {
    ctx.logger.info({ skipped: 'token-unknown' }, 'verification token not found; no mail sent');
    return { skipped: 'token-unknown' };
  }
  if (stored.expiresAt.getTime() <= deps.clock.now().getTime()) {
    ctx.logger.info({ skipped: 'token-expired' }, 'verification token expired; no mail sent');
    return { skipped: 'token-expired' };
  }
  const link = `${deps.appUrl}/verify?token=${encodeURIComponent(token)}`;
  const sent = await sendOnce(job, deps, ctx, { to: email, ...verifyEmail({ firstName, link }) });
  return { sent: true, messageId: sent.messageId };
};

export default verify;
