import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';

export default defineJob({
  description: 'Delete audit_log rows older than AUDIT_RETENTION_DAYS, vouching for the cut so the chain still verifies (daily)',
  schema: Type.Object({}, { additionalProperties: false, $id: 'AuditRetentionPayload' }),
  example: {},
  enqueuedBy: 'worker',
  // Counts only: the history of the crons.
  keepResult: true,
  schedule: { pattern: '45 3 * * *', env: 'AUDIT_RETENTION_CRON' },
});
