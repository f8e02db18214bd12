import type { Payload } from '@ceres/queues';
import type { Slack } from '../../deps/slack';
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

/** Posts the alert. A failure is retried by the queue's own policy (3 attempts, 2 s apart). */
export const alert: Processor<'slack/alert', { delivered: 'webhook' | 'log' }, AlertDeps> = async (job, deps, ctx) => {
  const { text, severity } = job.data;
  return deps.slack.post({ text: severity ? `${ICONS[severity]} ${text}` : text }, ctx.signal);
};

export default alert;
