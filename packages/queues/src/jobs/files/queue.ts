import { onRetrySchedule } from '../../retry';
import { DAY_S, defineQueue } from '../define';

/** Uploaded files. Completed kept 24 h (status is polled shortly after upload), failed 7 d. */
export default defineQueue({
  description: 'Checks and conversions of uploaded files',
  concurrency: 2,
  timeoutMs: 5 * 60_000,
  // One check may take its whole 5 min timeout with 2 per worker: an upload may queue behind one.
  longWaitSeconds: 300,
  defaultJobOptions: { ...onRetrySchedule, removeOnComplete: { age: DAY_S }, removeOnFail: { age: 7 * DAY_S } },
});
