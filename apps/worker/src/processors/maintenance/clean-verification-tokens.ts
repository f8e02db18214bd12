import type { Db } from '@ceres/db';
import { TOKEN_STORES } from '@ceres/queues';
import type { Clock } from '../../deps/clock';
import type { Processor } from '../types';

export interface CleanTokensDeps {
  db: Pick<Db, 'tokens' | 'hashedTokens' | 'sentMails'>;
  clock: Clock;
}

/**
 * How long a sent-mail record is kept: far longer than a mail job can still be re-run (its retry
 * schedule is about 6 minutes; a stalled job is re-run within a minute).
 */
export const SENT_MAIL_RECORD_DAYS = 7;

/**
 * Deletes the verification tokens that have expired (the count feeds the daily report), the
 * expired rows of every job type's hashed token table (`tokenStore`: `hashedTokensDeleted`, per
 * table) and the sent-mail records older than {@link SENT_MAIL_RECORD_DAYS} days.
 */
export const cleanVerificationTokens: Processor<
  'maintenance/clean-verification-tokens',
  { deleted: number; hashedTokensDeleted: Record<string, number>; sentMailsDeleted: number },
  CleanTokensDeps
> = async (_job, deps, ctx) => {
  const now = deps.clock.now();
  const deleted = await deps.db.tokens.deleteExpired(now);
  const hashedTokensDeleted: Record<string, number> = {};
  for (const table of TOKEN_STORES) hashedTokensDeleted[table] = await deps.db.hashedTokens(table).deleteExpired(now);
  const sentMailsDeleted = await deps.db.sentMails.deleteSentBefore(new Date(now.getTime() - SENT_MAIL_RECORD_DAYS * 86_400_000));
  ctx.logger.info({ deleted, hashedTokensDeleted, sentMailsDeleted }, 'expired verification tokens deleted');
  return { deleted, hashedTokensDeleted, sentMailsDeleted };
};

export default cleanVerificationTokens;
