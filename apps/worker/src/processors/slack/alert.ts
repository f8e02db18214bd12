import type { Payload } from '@ceres/queues';
import type { Slack, SlackDelivery } from '../../deps/slack';
import type { Processor } from '../types';

export interface AlertDeps {
  slack: Slack;
}

const ICONS: Record<NonNullable<Payload<'slack/alert'>['severity']>, string> = {
  info: ':information_source:',
  warning: ':warning:',
  error: ':x:',
  critical: ':rotating_light:',
};

/**
 * Posts the alert. A failure is retried on the standard schedule (1 s → 300 s); a 429 pauses the
 * queue without using an attempt (see deps/slack.ts).
 */
export const alert: Processor<'slack/alert', { delivered: SlackDelivery }, AlertDeps> = async (job, deps, ctx) => {
  const { text, severity } = job.data;
  return deps.slack.post({ text: severity ? `${ICONS[severity]} ${text}` : text }, ctx.signal);
};

export default alert;
