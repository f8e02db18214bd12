import type { JobName, QueueName } from '@ceres/queues';
import type { WorkerDeps } from '../deps';
import { verify } from './email/verify';
import { welcome } from './email/welcome';
import { optimizeProfilePicture } from './files/optimize-profile-picture';
import { validateCv } from './files/validate-cv';
import { cleanVerificationTokens } from './maintenance/clean-verification-tokens';
import { dailyReport } from './maintenance/daily-report';
import { alert } from './slack/alert';
import type { Processor } from './types';

// The runner re-validates each payload against the registry before calling a processor.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProcessor = Processor<any, unknown, WorkerDeps>;

export type ProcessorMap = { [Q in QueueName]?: { [J in JobName<Q>]?: AnyProcessor } };

/**
 * The processor of each registered job type. The worker consumes a queue only when every job type
 * of that queue has a processor here (see docs/worker.md).
 */
export const processors: ProcessorMap = {
  email: { verify, welcome },
  slack: { alert },
  maintenance: { 'clean-verification-tokens': cleanVerificationTokens, 'daily-report': dailyReport },
  files: { 'validate-cv': validateCv, 'optimize-profile-picture': optimizeProfilePicture },
};
