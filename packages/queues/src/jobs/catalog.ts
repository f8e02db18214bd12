// Written by scripts/gen-catalog.mjs (run by npm run build and npm run typecheck) from the files
// beside it: do not edit.
import emailQueue from './email/queue';
import emailPasswordReset from './email/password-reset';
import emailVerify from './email/verify';
import emailWelcome from './email/welcome';
import filesQueue from './files/queue';
import filesOptimizeProfilePicture from './files/optimize-profile-picture';
import filesValidateCv from './files/validate-cv';
import maintenanceQueue from './maintenance/queue';
import maintenanceAuditRetention from './maintenance/audit-retention';
import maintenanceCleanVerificationTokens from './maintenance/clean-verification-tokens';
import maintenanceDailyReport from './maintenance/daily-report';
import maintenanceLedgerRetention from './maintenance/ledger-retention';
import maintenancePurgeFailedJobs from './maintenance/purge-failed-jobs';
import newsletterQueue from './newsletter/queue';
import newsletterFanOut from './newsletter/fan-out';
import newsletterFinish from './newsletter/finish';
import newsletterSend from './newsletter/send';
import slackQueue from './slack/queue';
import slackAlert from './slack/alert';
import slackDeadLetterDigest from './slack/dead-letter-digest';

/** Every queue and its job types. */
export const catalog = {
  'email': { ...emailQueue, jobs: { 'password-reset': emailPasswordReset, 'verify': emailVerify, 'welcome': emailWelcome } },
  'files': { ...filesQueue, jobs: { 'optimize-profile-picture': filesOptimizeProfilePicture, 'validate-cv': filesValidateCv } },
  'maintenance': { ...maintenanceQueue, jobs: { 'audit-retention': maintenanceAuditRetention, 'clean-verification-tokens': maintenanceCleanVerificationTokens, 'daily-report': maintenanceDailyReport, 'ledger-retention': maintenanceLedgerRetention, 'purge-failed-jobs': maintenancePurgeFailedJobs } },
  'newsletter': { ...newsletterQueue, jobs: { 'fan-out': newsletterFanOut, 'finish': newsletterFinish, 'send': newsletterSend } },
  'slack': { ...slackQueue, jobs: { 'alert': slackAlert, 'dead-letter-digest': slackDeadLetterDigest } },
} as const;
