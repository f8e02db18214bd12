export { ConfigError } from './config-error';
export { parseEnv, EnvBoolean, envFlag, LOG_LEVELS, EnvLogLevel, type LogLevel } from './env';
export { schemaIssues, type FieldIssue } from './schema-issues';
export { withTimeout } from './with-timeout';
