import { DAY_S, defineQueue, HOUR_S } from '../define';

/**
 * Slack alerts: 3 attempts 2 s apart (an alert later than that is stale). A failed alert raises no
 * further alert, so it stays visible in Bull Board for a week.
 */
export default defineQueue({
  description: 'Slack alerts',
  concurrency: 10,
  timeoutMs: 30_000,
  // Slack's incoming webhooks allow about one message per second.
  rateLimit: { env: 'SLACK_RATE_PER_SECOND', perSecond: 1, description: "The webhook's rate" },
  defaultJobOptions: {
    attempts: 3,
    backoff: { type: 'fixed', delay: 2_000 },
    removeOnComplete: { age: HOUR_S },
    removeOnFail: { age: 7 * DAY_S },
  },
});
