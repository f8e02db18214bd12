import type { Db } from '@ceres/db';
import type { Clock } from '../../deps/clock';
import type { Processor } from '../types';

export interface LedgerRetentionDeps {
  db: Pick<Db, 'jobLedger'>;
  clock: Clock;
  /** `JOB_LEDGER_RETENTION_DAYS`. */
  config: { jobLedgerRetentionDays: number };
}

const DAY_MS = 86_400_000;

/** The job ledger keeps a job's outcome this long after it finished (a few thousand rows deleted per statement). */
export const ledgerRetention: Processor<'maintenance/ledger-retention', { purged: number; before: string }, LedgerRetentionDeps> = async (
  _job,
  deps,
  ctx,
) => {
  const before = new Date(deps.clock.now().getTime() - deps.config.jobLedgerRetentionDays * DAY_MS);
  const purged = await deps.db.jobLedger.purgeBefore(before);
  ctx.logger.info({ purged, before: before.toISOString() }, 'old job_ledger rows deleted');
  return { purged, before: before.toISOString() };
};

export default ledgerRetention;
