import type { Db } from '@ceres/db';
import type { CleanVerificationTokensPayload } from '@ceres/queues';
import type { Clock } from '../../deps/clock';
import type { Processor } from '../types';

export interface CleanTokensDeps {
  db: Pick<Db, 'tokens'>;
  clock: Clock;
}

/** Deletes the verification tokens that have expired; the count feeds the daily report. */
export const cleanVerificationTokens: Processor<CleanVerificationTokensPayload, { deleted: number }, CleanTokensDeps> = async (
  _job,
  deps,
) => {
  const deleted = await deps.db.tokens.deleteExpired(deps.clock.now());
  deps.logger.info({ deleted }, 'expired verification tokens deleted');
  return { deleted };
};
