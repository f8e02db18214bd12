import { onRetrySchedule } from '../../retry';
import { DAY_S, defineQueue, HOUR_S } from '../define';

/**
 * Bulk mail, apart from `email` so that a campaign never delays a verification mail. Its rate holds
 * across every worker; the payloads carry ids only (addresses and names are read from PostgreSQL at
 * send time), so no personal data sits in Redis.
 */
export default defineQueue({
  description: 'Newsletter campaigns',
  concurrency: 10,
  timeoutMs: 30_000,
  rateLimit: {
    env: 'NEWSLETTER_RATE_PER_SECOND',
    perSecond: 10,
    description: "The mail provider's quota for newsletter mails",
  },
  // A campaign is paced by its rate (72,000 mails an hour at 10/s): its last mails wait by design.
  // Two hours: a campaign of that size or less raises nothing; a stopped one is seen within them.
  longWaitSeconds: 2 * HOUR_S,
  // Kept a day: a fan-out run again within it finds the jobs and adds none (the recipient's
  // outcome in PostgreSQL is what keeps a mail from going out twice after that).
  defaultJobOptions: { ...onRetrySchedule, removeOnComplete: { age: DAY_S }, removeOnFail: { age: 7 * DAY_S } },
});
