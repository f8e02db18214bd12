import type { Db } from '@ceres/db';
import type { Clock } from '../../deps/clock';
import type { Processor } from '../types';

export interface CleanTokensDeps {
  db: Pick<Db, 'tokens'>;
  clock: Clock;
}

/** Deletes the verification tokens that have expired; the count feeds the daily report. */
export const cleanVerificationTokens: Processor<'maintenance/clean-verification-tokens', { deleted: number }, CleanTokensDeps> = async (
  _job,
  deps,
  ctx,
) => {
  const deleted = await deps.db.tokens.deleteExpired(deps.clock.now());
  ctx.logger.info({ deleted }, 'expired verification tokens deleted');
  return { deleted };
};

export default cleanVerificationTokens;
