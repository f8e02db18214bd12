import { SLACK_SEVERITY_ICONS } from '@ceres/queues';
import type { Slack, SlackDelivery } from '../../deps/slack';
import type { Processor } from '../types';

export interface AlertDeps {
  slack: Slack;
}

/**
 * Posts the alert. A failure is retried on the standard schedule (1 s → 300 s); a 429 pauses the
 * queue without using an attempt (see deps/slack.ts).
 */
export const alert: Processor<'slack/alert', { delivered: SlackDelivery }, AlertDeps> = async (job, deps, ctx) => {
  const { text, severity } = job.data;
  return deps.slack.post({ text: severity ? `${SLACK_SEVERITY_ICONS[severity]} ${text}` : text }, ctx.signal);
};

export default alert;
