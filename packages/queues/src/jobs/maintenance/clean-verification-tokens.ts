import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';

export default defineJob({
  description: 'Delete expired verification tokens (hourly)',
  schema: Type.Object({}, { additionalProperties: false, $id: 'CleanVerificationTokensPayload' }),
  example: {},
  enqueuedBy: 'worker',
  // Counts only: the history of the crons.
  keepResult: true,
  schedule: { pattern: '0 * * * *', env: 'CLEAN_TOKENS_CRON' },
});
