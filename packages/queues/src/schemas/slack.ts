import { Type, type Static } from '@sinclair/typebox';
import { SingleLine } from './common';

export const SLACK_SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;

export const SlackAlertPayload = Type.Object(
  {
    // Slack renders up to 40,000 characters; alerts longer than this are unreadable anyway.
    text: Type.String({ minLength: 1, maxLength: 3000, description: 'The alert text (Slack mrkdwn)' }),
    severity: Type.Optional(Type.Union(SLACK_SEVERITIES.map((severity) => Type.Literal(severity)))),
    dedupeKey: Type.Optional(
      SingleLine(1, 200, { description: 'Alerts with the same dedupe key are enqueued once' }),
    ),
  },
  { additionalProperties: false, $id: 'SlackAlertPayload' },
);
export type SlackAlertPayload = Static<typeof SlackAlertPayload>;
