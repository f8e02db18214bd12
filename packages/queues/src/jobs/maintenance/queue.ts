import { onRetrySchedule } from '../../retry';
import { DAY_S, defineQueue } from '../define';

/**
 * The crons. About 25 jobs a day, and their history is the audit trail of the crons: completed
 * kept 7 d, failed 30 d.
 */
export default defineQueue({
  description: 'Scheduled maintenance',
  concurrency: 1,
  timeoutMs: 10 * 60_000,
  // One job at a time, each up to its 10 min timeout: a cron may wait behind another one.
  longWaitSeconds: 15 * 60,
  defaultJobOptions: { ...onRetrySchedule, removeOnComplete: { age: 7 * DAY_S }, removeOnFail: { age: 30 * DAY_S } },
});
