export {
  ALL_TOKEN_SCOPES,
  basicAuthPlugin,
  basicCredentials,
  basicPrincipals,
  bearerAuthPlugin,
  safeEqual,
  scopeRequired,
  secretDigest,
  tokenMatcher,
  type AuthFailureOptions,
  type BasicAuthOptions,
  type BearerAuthOptions,
  type ResolvedPrincipal,
  type ResolvedToken,
} from './auth';
export { createErrorHandler, errorHandlerPlugin, errorResponse, RETRY_AFTER_SECONDS, type ErrorHandlerOptions } from './error-handler';
export {
  badRequest,
  ERROR_CODES,
  ErrorBody,
  errorResponses,
  HttpError,
  invalidBody,
  issuesMessage,
  queueUnavailable,
  sendError,
  type ErrorCode,
  type ErrorDetails,
  type FieldIssue,
  type ItemIssues,
} from './errors';
export { Health, healthPlugin, type HealthOptions } from './health';
export { jsonBodyPlugin } from './json-body';
export { openApiPlugin, toOpenApi30, type OpenApiOptions } from './openapi';
export { definePlugin, pluginMeta, type PluginMeta } from './plugin';
export { typeboxValidatorCompiler } from './validator';
