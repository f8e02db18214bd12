import type { Db } from '@ceres/db';
import { findJobDefinition } from '@ceres/queues';
import type { Clock } from '../../deps/clock';
import type { Mailer } from '../../deps/mailer';
import { sendOnce } from '../../mail/send-once';
import type { Processor } from '../types';
import { passwordResetEmail } from './password-reset.template';

export type PasswordResetResult = { sent: true; messageId: string } | { skipped: 'token-expired' | 'token-unknown' };

export interface PasswordResetDeps {
  mailer: Mailer;
  db: Pick<Db, 'hashedTokens' | 'sentMails'>;
  clock: Clock;
  appUrl: string;
}

/** The table the definition names (`password_reset_tokens`). */
const TOKEN_STORE = findJobDefinition('email', 'password-reset')!.tokenStore!;

/**
 * Sends the password reset mail, but only for a token whose hash is in the store, belongs to the
 * user and has not expired (nor been used: the platform deletes it then): a dead link helps
 * nobody. A skip completes the job (no retry). A re-run of a job whose mail is recorded as sent
 * does not send it again.
 */
export const passwordReset: Processor<'email/password-reset', PasswordResetResult, PasswordResetDeps> = async (job, deps, ctx) => {
  const { userId, email, firstName, token } = job.data;
  const stored = await deps.db.hashedTokens(TOKEN_STORE).find(token);
  // A user id is unique within a tenant only: another tenant's token of the same id is not theirs.
  if (!stored || stored.userId !== userId || stored.tenant !== ctx.tenant) {
    ctx.logger.info({ skipped: 'token-unknown' }, 'password reset token not found; no mail sent');
    return { skipped: 'token-unknown' };
  }
  if (stored.expiresAt.getTime() <= deps.clock.now().getTime()) {
    ctx.logger.info({ skipped: 'token-expired' }, 'password reset token expired; no mail sent');
    return { skipped: 'token-expired' };
  }
  const link = `${deps.appUrl}/reset-password?token=${encodeURIComponent(token)}`;
  const sent = await sendOnce(job, deps, ctx, { to: email, ...passwordResetEmail({ firstName, link }) });
  return { sent: true, messageId: sent.messageId };
};

export default passwordReset;
