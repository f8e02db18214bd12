export { ConfigError } from './config-error';
export { parseEnv, EnvBoolean, envFlag, LOG_LEVELS, EnvLogLevel, type LogLevel } from './env';
export { schemaIssues, unstorableTextFields, type FieldIssue } from './schema-issues';
export { withTimeout } from './with-timeout';
export { runService, type Lifecycle, type LifecycleLogger, type LifecycleProcess, type Service } from './lifecycle';
export { AUTH_FAILURE_DEFAULTS, AuthFailureLimiter, type AuthFailureLimitOptions } from './auth-failures';
export { assertStrongSecret, MIN_SECRET_DISTINCT_CHARS, MIN_SECRET_LENGTH, parseSecretList, secretWeakness } from './secret-strength';
export { hasUnstorableText, storableString } from './storable-text';
export { maskEmail, maskEmails } from './personal-data';
export {
  readUnsubscribeToken,
  signUnsubscribeToken,
  unsubscribeSignature,
  type ReadToken,
  type UnsubscribeSubject,
} from './unsubscribe-token';
export {
  escapeHtml,
  MAX_PLACEHOLDER_VALUE_CHARS,
  MAX_RENDERED_CHARS,
  renderedLengthBound,
  renderTemplate,
  TEMPLATE_PLACEHOLDERS,
  unknownPlaceholders,
  type TemplateValues,
} from './newsletter-template';
export * from './tenant';
export * from './access';
export { hashPassword, newPassword, verifyPassword } from './password';
export { PeriodicRead, type PeriodicReadOptions } from './periodic-read';
export {
  activeTracing,
  startTracing,
  stopTracing,
  tracesUrl,
  TracingEnv,
  type SpanAttributes,
  type SpanAttributeValue,
  type SpanKindName,
  type Tracing,
  type TraceSpan,
} from './tracing';
