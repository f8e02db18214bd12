import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';

export default defineJob({
  description: 'Report the last 24 h of every queue (daily at 09:00)',
  schema: Type.Object({}, { additionalProperties: false, $id: 'DailyReportPayload' }),
  example: {},
  enqueuedBy: 'worker',
  // Its result is the whole report (mailed and posted): not kept.
  keepResult: false,
  schedule: { pattern: '0 9 * * *', env: 'DAILY_REPORT_CRON' },
});
