import type { Db } from '@ceres/db';
import type { Clock } from '../../deps/clock';
import type { Processor } from '../types';

export interface CleanTokensDeps {
  db: Pick<Db, 'tokens' | 'sentMails'>;
  clock: Clock;
}

/**
 * How long a sent-mail record is kept: far longer than a mail job can still be re-run (its retry
 * schedule is about 6 minutes; a stalled job is re-run within a minute).
 */
export const SENT_MAIL_RECORD_DAYS = 7;

/**
 * Deletes the verification tokens that have expired (the count feeds the daily report) and the
 * sent-mail records older than {@link SENT_MAIL_RECORD_DAYS} days.
 */
export const cleanVerificationTokens: Processor<
  'maintenance/clean-verification-tokens',
  { deleted: number; sentMailsDeleted: number },
  CleanTokensDeps
> = async (_job, deps, ctx) => {
  const now = deps.clock.now();
  const deleted = await deps.db.tokens.deleteExpired(now);
  const sentMailsDeleted = await deps.db.sentMails.deleteSentBefore(new Date(now.getTime() - SENT_MAIL_RECORD_DAYS * 86_400_000));
  ctx.logger.info({ deleted, sentMailsDeleted }, 'expired verification tokens deleted');
  return { deleted, sentMailsDeleted };
};

export default cleanVerificationTokens;
