// Written by scripts/gen-catalog.mjs (run by npm run build and npm run typecheck) from the files
// beside it: do not edit.
import type { ProcessorMap } from './types';
import emailPasswordReset from './email/password-reset';
import emailVerify from './email/verify';
import emailWelcome from './email/welcome';
import filesOptimizeProfilePicture from './files/optimize-profile-picture';
import filesValidateCv from './files/validate-cv';
import maintenanceAuditRetention from './maintenance/audit-retention';
import maintenanceCleanVerificationTokens from './maintenance/clean-verification-tokens';
import maintenanceDailyReport from './maintenance/daily-report';
import maintenanceLedgerRetention from './maintenance/ledger-retention';
import maintenancePurgeFailedJobs from './maintenance/purge-failed-jobs';
import newsletterFanOut from './newsletter/fan-out';
import newsletterFinish from './newsletter/finish';
import newsletterSend from './newsletter/send';
import slackAlert from './slack/alert';
import slackDeadLetterDigest from './slack/dead-letter-digest';

/** The processor of every job type: `satisfies` makes a missing (or extra) one a compile error. */
export const processors = {
  'email': { 'password-reset': emailPasswordReset, 'verify': emailVerify, 'welcome': emailWelcome },
  'files': { 'optimize-profile-picture': filesOptimizeProfilePicture, 'validate-cv': filesValidateCv },
  'maintenance': { 'audit-retention': maintenanceAuditRetention, 'clean-verification-tokens': maintenanceCleanVerificationTokens, 'daily-report': maintenanceDailyReport, 'ledger-retention': maintenanceLedgerRetention, 'purge-failed-jobs': maintenancePurgeFailedJobs },
  'newsletter': { 'fan-out': newsletterFanOut, 'finish': newsletterFinish, 'send': newsletterSend },
  'slack': { 'alert': slackAlert, 'dead-letter-digest': slackDeadLetterDigest },
} satisfies ProcessorMap;
