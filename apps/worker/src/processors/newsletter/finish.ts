import { announceIfDone, type AnnounceDeps } from '../../newsletter/announce';
import type { Processor } from '../types';

/** Closes and announces a campaign once nobody is pending (after a cancel, no send may be left to). */
export const finish: Processor<'newsletter/finish', { announced: boolean }, AnnounceDeps> = async (job, deps, ctx) => ({
  announced: await announceIfDone(job.data.campaignId, deps, ctx),
});

export default finish;
