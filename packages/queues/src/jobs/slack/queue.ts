import { DAY_S, defineQueue, HOUR_S } from '../define';
import { onRetrySchedule } from '../../retry';

/**
 * Slack alerts: the standard retry schedule (1 s → 300 s), so a Slack incident of minutes still
 * delivers them; a 429 pauses the queue without using an attempt (the worker's back-pressure). A
 * failed alert raises no further alert, so it stays visible in Bull Board for a week.
 */
export default defineQueue({
  description: 'Slack alerts',
  concurrency: 10,
  timeoutMs: 30_000,
  // Slack's incoming webhooks allow about one message per second.
  rateLimit: { env: 'SLACK_RATE_PER_SECOND', perSecond: 1, description: "The webhook's rate" },
  carriesAlerts: true,
  // At 1/s a burst of 30 alerts drains in 30 s; an alert older than that is late for an incident.
  longWaitSeconds: 30,
  defaultJobOptions: {
    ...onRetrySchedule,
    removeOnComplete: { age: HOUR_S },
    removeOnFail: { age: 7 * DAY_S },
  },
});
