import { onRetrySchedule } from '../../retry';
import { DAY_S, defineQueue, HOUR_S } from '../define';

/** Account mails. Retention is the platform's rule: completed 1 h, failed 24 h. */
export default defineQueue({
  description: 'Account mails',
  concurrency: 5,
  timeoutMs: 30_000,
  rateLimit: { env: 'EMAIL_RATE_PER_SECOND', description: "The mail provider's quota for account mails; unset: no limit" },
  // Running a completed mail job again sends its mail again.
  retryCompleted: false,
  // A citizen waits on the screen for a verification or reset mail: after a minute they ask again.
  longWaitSeconds: 60,
  defaultJobOptions: { ...onRetrySchedule, removeOnComplete: { age: HOUR_S }, removeOnFail: { age: DAY_S } },
});
