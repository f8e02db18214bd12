export * from './db';
export * from './migrate';
export { createHashedTokenStore, hashToken, type HashedToken, type HashedTokenStore } from './hashed-tokens';
export { databaseUrlFromEnv, DatabaseUrlError, databaseUrlSetting } from './database-url';
export { createFailedJobArchive, type ArchivedFailure, type ArchiveFilter, type FailedJobArchive } from './failed-job-archive';
export {
  CAMPAIGN_STATES,
  createNewsletterStore,
  type Campaign,
  type CampaignContent,
  type CampaignFigures,
  type CampaignState,
  type NewRecipient,
  type NewsletterStore,
  type RecipientStatus,
  type SendContext,
  type Transition,
} from './newsletter';
export * from './tenants';
export * from './accounts';
export * from './audit-log';
export * from './job-ledger';
export { storableJson } from './storable';
