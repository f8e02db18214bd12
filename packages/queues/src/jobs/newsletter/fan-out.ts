import { Type } from '@sinclair/typebox';
import { CampaignId } from '../../schemas/common';
import { defineJob } from '../define';

export default defineJob({
  description: 'Enqueue one newsletter/send job per pending recipient of a started campaign, in chunks',
  schema: Type.Object({ campaignId: CampaignId }, { additionalProperties: false, $id: 'NewsletterFanOutPayload' }),
  example: { campaignId: '0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b' },
  keyField: 'campaignId',
  ledgerKey: 'campaignId',
  keepResult: true,
  // A start while the fan-out runs is the same fan-out; once it finished, a new start runs it again
  // (adding only the jobs that are gone).
  duplicates: 'pending',
  // By the API's POST /campaigns/:id/start, not through POST /jobs.
  enqueuedBy: 'worker',
  timeoutMs: 10 * 60_000,
});
