export * from './db';
export * from './migrate';
export { databaseUrlFromEnv, DatabaseUrlError } from './database-url';
export { createFailedJobArchive, type ArchivedFailure, type ArchiveFilter, type FailedJobArchive } from './failed-job-archive';
