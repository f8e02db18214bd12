import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';

export default defineJob({
  description: 'Delete job_ledger rows of jobs finished more than JOB_LEDGER_RETENTION_DAYS ago (daily)',
  schema: Type.Object({}, { additionalProperties: false, $id: 'LedgerRetentionPayload' }),
  example: {},
  enqueuedBy: 'worker',
  // Counts only: the history of the crons.
  keepResult: true,
  schedule: { pattern: '50 3 * * *', env: 'JOB_LEDGER_RETENTION_CRON' },
});
