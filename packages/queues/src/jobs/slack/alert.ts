import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';
import { JobKey } from '../../schemas/common';

export const SLACK_SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;

/** How an alert's severity shows in Slack: the emoji before its text (the worker's processor, queues-ui's own posts). */
export const SLACK_SEVERITY_ICONS: Record<(typeof SLACK_SEVERITIES)[number], string> = {
  info: ':information_source:',
  warning: ':warning:',
  error: ':x:',
  critical: ':rotating_light:',
};

export default defineJob({
  description: 'Post an alert to the Slack webhook',
  schema: Type.Object(
    {
      // Slack renders up to 40,000 characters; alerts longer than this are unreadable anyway.
      text: Type.String({ minLength: 1, maxLength: 3000, description: 'The alert text (Slack mrkdwn)' }),
      severity: Type.Optional(Type.Union(SLACK_SEVERITIES.map((severity) => Type.Literal(severity)))),
      dedupeKey: Type.Optional(JobKey(200, { description: 'Alerts with the same dedupe key are enqueued once' })),
    },
    { additionalProperties: false, $id: 'SlackAlertPayload' },
  ),
  example: { text: 'Disk almost full on web-1', severity: 'warning', dedupeKey: 'disk-web-1' },
  keyField: 'dedupeKey',
  // One alert per dedupe key while it is kept (completed 1 h): no repeats of the same alarm.
  duplicates: 'retention',
  // The daily report (`daily-report-<date>`), the dead-letter alerts (`dead-<queue>-…`), the
  // newsletter summaries (`newsletter-<campaignId>`), queues-ui's long-wait alerts (`queue-wait-<queue>-…`)
  // and the circuit breakers' transitions (`breaker-…`).
  reservedKeyPrefixes: ['daily-report-', 'dead-', 'newsletter-', 'queue-wait-', 'breaker-'],
  enqueuedBy: 'platform',
  options: ['delay'],
});
