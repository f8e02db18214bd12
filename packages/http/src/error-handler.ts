import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { definePlugin } from './plugin';
import { HttpError, queueUnavailable, sendError, type ErrorBody, type ErrorCode } from './errors';

/** Seconds a client should wait before retrying after a 503; Redis reconnects within about 2 s. */
export const RETRY_AFTER_SECONDS = '2';

export interface ErrorHandlerOptions {
  /** Turns an app's own errors (e.g. the producers' validation errors) into an {@link HttpError}. */
  map?: (error: unknown) => HttpError | undefined;
  /** Whether an unexpected error means Redis is unavailable (503) rather than a bug (500). */
  isOutage?: (error: unknown) => boolean;
  /** Named in the 413 message, e.g. `API_BODY_LIMIT_BYTES`. */
  bodyLimitVariable?: string;
  /** Appended to the 404 message, e.g. where the routes are listed. */
  notFoundHint?: string;
}

/** Fastify's own request errors, by their code. */
const FASTIFY_CODES: Record<string, { code: ErrorCode; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'unsupported content type: send the body as application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'INVALID_REQUEST' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'INVALID_BODY', message: 'the body is empty; send a JSON object' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'INVALID_BODY', message: 'the body is not valid JSON' },
};

const STATUS_CODES: Record<number, ErrorCode> = {
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

/** Maps any error to its status and body. Unknown errors become a generic 500. */
export function errorResponse(error: unknown, options: ErrorHandlerOptions = {}): { statusCode: number; body: ErrorBody } {
  const known = error instanceof HttpError ? error : options.map?.(error);
  if (known) return { statusCode: known.statusCode, body: known.body };
  const fastifyError = error as Partial<FastifyError>;
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const mapped = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
    if (mapped) return { statusCode: status, body: { code: mapped.code, message: mapped.message ?? String(fastifyError.message) } };
    if (error instanceof SyntaxError) return { statusCode: 400, body: { code: 'INVALID_BODY', message: 'the body is not valid JSON' } };
    return { statusCode: status, body: { code: STATUS_CODES[status] ?? 'INVALID_REQUEST', message: String(fastifyError.message) } };
  }
  if (options.isOutage?.(error)) {
    const unavailable = queueUnavailable();
    return { statusCode: unavailable.statusCode, body: unavailable.body };
  }
  return { statusCode: 500, body: { code: 'INTERNAL', message: 'internal error; it has been logged' } };
}

/** The error handler as a function, for Fastify's `frameworkErrors` (malformed URLs, before routing). */
export function createErrorHandler(options: ErrorHandlerOptions = {}) {
  // Returns nothing: Fastify's frameworkErrors expects a plain callback (a reply is a thenable).
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const { statusCode, body } = errorResponse(error, options);
    if (body.code === 'PAYLOAD_TOO_LARGE') {
      const variable = options.bodyLimitVariable ? ` (${options.bodyLimitVariable})` : '';
      body.message = `the request body is larger than ${request.routeOptions.bodyLimit} bytes${variable}`;
    }
    if (statusCode === 500) request.log.error({ err: error }, 'unexpected error');
    // An outage is logged once by whoever watches the connection, not once per refused request.
    else if (statusCode === 503) {
      request.log.debug({ err: error }, 'queue unavailable');
      reply.header('retry-after', RETRY_AFTER_SECONDS);
    }
    reply.code(statusCode).send(body);
  };
}

/** The methods the apps' routes use, in the order an `Allow` header lists them. */
const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * One error handler and one 404 for the whole app: JSON `{ code, message, field?, … }` with a
 * stable code, never a stack trace; only the unexpected is logged.
 */
export const errorHandlerPlugin = definePlugin<ErrorHandlerOptions>(
  { name: '@ceres/http/error-handler', dependencies: [] },
  async (app: FastifyInstance, options) => {
    app.setErrorHandler(createErrorHandler(options));
    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0]!;
      // The path exists with other methods (TRACE on a route, say): 405 naming them, not "no route".
      const allowed = ROUTE_METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
      if (allowed.length > 0) {
        reply.header('allow', allowed.join(', '));
        return sendError(
          reply,
          new HttpError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path.slice(0, 200)}; allowed: ${allowed.join(', ')}`),
        );
      }
      const hint = options.notFoundHint ? `; ${options.notFoundHint}` : '';
      return sendError(reply, new HttpError('NOT_FOUND', `no route ${request.method} ${path.slice(0, 200)}${hint}`));
    });
  },
);
