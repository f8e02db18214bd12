export * from './db';
export * from './migrate';
export { databaseUrlFromEnv, DatabaseUrlError } from './database-url';
