import type { QueueName } from '@ceres/queues';

/**
 * The external dependency each job type's processor calls (`deps.mailer` or `deps.slack`): its
 * jobs wait while that dependency's circuit breaker is open. The daily report (a mail and a Slack
 * post, once a day) and the jobs that call no external service have none.
 */
export function laneOf(queue: QueueName, job: string): 'mailer' | 'slack' | undefined {
  if (queue === 'email' || (queue === 'newsletter' && job === 'send')) return 'mailer';
  if (queue === 'slack') return 'slack';
  return undefined;
}
