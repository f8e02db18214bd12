import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';

export default defineJob({
  description: 'Delete failed_jobs rows older than FAILED_JOBS_RETENTION_DAYS (daily)',
  schema: Type.Object({}, { additionalProperties: false, $id: 'PurgeFailedJobsPayload' }),
  example: {},
  enqueuedBy: 'worker',
  // Counts only: the history of the crons.
  keepResult: true,
  schedule: { pattern: '30 3 * * *', env: 'PURGE_FAILED_JOBS_CRON' },
});
