import { Type } from '@sinclair/typebox';
import { CampaignId, UserId } from '../../schemas/common';
import { defineJob } from '../define';

export default defineJob({
  description: 'Send one campaign mail to one recipient (address and name read from PostgreSQL at send time)',
  schema: Type.Object({ campaignId: CampaignId, userId: UserId }, { additionalProperties: false, $id: 'NewsletterSendPayload' }),
  example: { campaignId: '0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b', userId: 'user-123' },
  keyFields: ['campaignId', 'userId'],
  // The user's mails are what is asked about ("did user X get it?"); the campaign has its own figures.
  ledgerKey: 'userId',
  keepResult: true,
  // One job per recipient while it is kept; the recipient's outcome row guards beyond that.
  duplicates: 'retention',
  enqueuedBy: 'worker',
  // The fan-out adds them prioritized: a cancel then removes each waiting one in O(log n).
  options: ['priority'],
});
