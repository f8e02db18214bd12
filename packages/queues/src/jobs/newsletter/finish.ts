import { Type } from '@sinclair/typebox';
import { CampaignId } from '../../schemas/common';
import { defineJob } from '../define';

export default defineJob({
  description: 'Close a campaign whose recipients all have an outcome and post its one Slack summary',
  schema: Type.Object({ campaignId: CampaignId }, { additionalProperties: false, $id: 'NewsletterFinishPayload' }),
  example: { campaignId: '0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b' },
  keyField: 'campaignId',
  ledgerKey: 'campaignId',
  keepResult: true,
  duplicates: 'pending',
  // By the API's POST /campaigns/:id/cancel: no send may be left to notice the end.
  enqueuedBy: 'worker',
});
