import type { Db } from '@ceres/db';
import type { Clock } from '../../deps/clock';
import type { Processor } from '../types';

export interface PurgeFailedJobsDeps {
  db: Pick<Db, 'failedJobs'>;
  clock: Clock;
  /** `FAILED_JOBS_RETENTION_DAYS`. */
  failedJobsRetentionDays: number;
}

const DAY_MS = 86_400_000;

/** The dead-letter archive keeps payloads (encrypted) and errors only this long. */
export const purgeFailedJobs: Processor<'maintenance/purge-failed-jobs', { purged: number; before: string }, PurgeFailedJobsDeps> = async (
  _job,
  deps,
  ctx,
) => {
  const before = new Date(deps.clock.now().getTime() - deps.failedJobsRetentionDays * DAY_MS);
  const purged = await deps.db.failedJobs.purgeFailedBefore(before);
  ctx.logger.info({ purged, before: before.toISOString() }, 'old failed_jobs rows deleted');
  return { purged, before: before.toISOString() };
};

export default purgeFailedJobs;
