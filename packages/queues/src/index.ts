// The public surface of @ceres/queues: what app code, the apps and their tests use. Anything not
// listed here is internal to the package.

// Defining job types (src/jobs/<queue>/<job>.ts and src/jobs/<queue>/queue.ts).
export {
  defineJob,
  defineQueue,
  DEFAULT_JOB_TIMEOUT_MS,
  longWaitEnv,
  type DuplicateWindow,
  type EnqueueOptionName,
  type EnqueuedBy,
  type JobDefinition,
  type JobSchedule,
  type QueueDefinition,
  type QueueRateLimit,
} from './jobs/define';
export {
  registry,
  QUEUE_NAMES,
  JOB_TYPES,
  SCHEDULED_JOB_TYPES,
  TOKEN_STORES,
  RATE_LIMITED_QUEUES,
  LONG_WAITS,
  ALERT_QUEUE,
  NO_COMPLETED_RETRIES,
  limiterFor,
  queueLimiter,
  PAUSE_ONLY_LIMITER,
  LONGEST_JOB_TIMEOUT_MS,
  isQueueName,
  findJobDefinition,
  jobTimeoutMs,
  jobOptions,
  LEDGER_SETTINGS,
  type LedgerSettings,
  type JobName,
  type JobOf,
  type JobType,
  type JobTypeEntry,
  type OptionsOf,
  type Payload,
  type PayloadOf,
  type PlatformJobType,
  type QueueName,
  type QueueOf,
  type Registry,
} from './registry';
export { SLACK_SEVERITIES, SLACK_SEVERITY_ICONS } from './jobs/slack/alert';
export { CampaignId, CAMPAIGN_ID_PATTERN, Email, FirstName, SingleLine, UrlToken, UserId } from './schemas/common';
export { EnqueueOptions, MAX_DELAY_MS, MAX_PRIORITY } from './schemas/enqueue-options';

// Producing.
export { enqueue, producer, getQueue, closeQueues, defaultQueueClient } from './producers';
// enqueueEmailVerify, … : one per platform job type, written by scripts/gen-catalog.mjs.
export * from './named-producers';
export {
  enqueueFilesValidateCv as enqueueValidateCv,
  enqueueFilesOptimizeProfilePicture as enqueueOptimizeProfilePicture,
} from './named-producers';
export { QueueClient, createQueueClient, type QueueClientOptions, type EnqueueResult } from './client';
export { buildJobId, jobIdOf, MAX_JOB_KEY_LENGTH, type JobKeySource } from './job-id';
export { validatePayload, parsePayload, jobDefinitionOrThrow } from './validation';
export {
  BatchValidationError,
  InvalidJobKeyError,
  PayloadValidationError,
  QueueUnavailableError,
  ReplicationError,
  UnknownJobTypeError,
  type BatchItemIssues,
  type FieldIssue,
} from './errors';
export { ConfigError, schemaIssues } from '@ceres/app-kit';

// Connecting and consuming (the worker, the ops surface).
export { loadQueuesConfig, DEFAULT_REDIS_DB, QueuesEnv, queuePrefix, type QueuesConfig } from './config';
export { logSentinelWatch, onSentinelWatch, sentinelWatching, type SentinelWatchEvent, type SentinelWatchLog } from './sentinel-switch';
export {
  ClusterReplicaTarget,
  FixedReplicaTarget,
  logReplicaTargets,
  MasterReplicaTarget,
  replicaTargetFor,
  SentinelReplicaTarget,
  type ReplicaTarget,
  type ReplicaTargetEvents,
  type ReplicaTargetLog,
  type ReplicaTargetReport,
} from './replica-target';
export {
  assertRedisDatabase,
  createRedisConnection,
  type RedisClient,
  checkRedisServer,
  MIN_REDIS_VERSION,
  type ConnectionOptions,
  type ConnectionRole,
  type RedisServerReport,
} from './connection';
export { RETRY_DELAYS_MS, SCHEDULE_ATTEMPTS, RETRY_BACKOFF_TYPE, retryDelay, backoffStrategy } from './retry';
export { workerSettings } from './worker-settings';

// Inspecting and acting on the queues (the queues-ui and the CLI).
export {
  QueueAdmin,
  JOB_STATES,
  CLEANABLE_STATES,
  UnknownQueueError,
  UnknownSchedulerError,
  AmbiguousSchedulerError,
  type CleanableState,
  type JobState,
  type JobView,
  type QueueActivity,
  type QueueAdminErrors,
  type QueueStats,
  type SchedulerView,
  RECENT_WAIT_MINUTES,
  type WaitSummary,
} from './admin/queue-admin';
// Which tenant a stored job is for, from its id or its data (the CLI's and the metrics' --tenant figures).
export { readQueueWait, WAIT_SAMPLE, type QueueWait } from './admin/queue-wait';
export { stateIdPages, tenantOfJobId, tenantsOfJobIds } from './admin/tenant-jobs';
export { TenantCounts, tenantCountKey, type TenantOutcome } from './tenant-metrics';
// Wait and run times: counted by the workers, read by the metrics, the CLI's stats and the daily report.
export {
  BUCKET_COUNT,
  bucketIndex,
  formatWait,
  histogramQuantile,
  JobTimings,
  TIMING_BUCKETS,
  type TimingKind,
  type TimingSeries,
} from './job-timings';
// Erasure of one user's data (the queues-ui's POST /api/erasure and the CLI's erase).
export { eraseUserData, ErasureUserId, type ErasureLog, type ErasureStores, type UserDataErasure } from './admin/erasure';
export { optOutAddressDigests } from './admin/opt-out-digest';
export { decryptJobPayload } from './crypto/open';

// Personal fields encrypted at rest (JOBS_ENCRYPTION_KEYS).
export {
  parseKeyring,
  keyringFromEnv,
  missingKeyringError,
  ENCRYPTION_KEYS_VARIABLE,
  type Keyring,
  type EncryptionKey,
} from './crypto/keyring';
export {
  decryptPayload,
  openPayload,
  sealedFieldNames,
  SEALED_FIELD,
  encryptField,
  decryptField,
  isEncrypted,
  encryptedVersion,
  personalFields,
  PayloadDecryptionError,
  ENCRYPTED_PREFIX,
  DIGEST_FIELD,
} from './crypto/fields';
// Back-pressure pauses without a per-job limiter check (the worker's subscriber).
export {
  subscribeToBreakers,
  type BreakerNotice,
  type BreakerResult,
  type BreakerSettings,
  type BreakerState,
  type BreakerStep,
  type BreakerSubscription,
  type BreakerView,
} from './breakers';
export { subscribeToPauses, type PauseNotice, type PauseSubscription } from './back-pressure';
// Ceres's own Redis keys, in one place.
export { deadLetterDigestKeys, reconcileTickKey } from './writer/ceres-keys';
export {
  CeresStore,
  type DeadLetterCount,
  type DigestFigures,
  type LedgerBacklog,
  type WaitEpisode,
  type WaitObservation,
} from './ceres-store';
export { apiTokenHash, newApiToken, openTenantSecret, sameHash, sealTenantSecret, type TenantSecret } from './crypto/tenant-secrets';
export { scopedJobId, TENANT_FIELD, tenantOfData, unscopedJobId, type TenantOption } from './tenant';
export { DEFAULT_TENANT, TENANT_ID } from '@ceres/app-kit';
export {
  decodeCursor,
  encodeCursor,
  JobSearchInputError,
  MAX_SEARCH_PAGE,
  SEARCH_STATES,
  searchJobs,
  type FoundJob,
  type JobSearchFilter,
  type JobSearchResult,
  type LedgerSearchStore,
  type SearchState,
} from './admin/job-search';
