import {
  BatchValidationError,
  InvalidJobKeyError,
  PayloadValidationError,
  QueueUnavailableError,
  UnknownJobTypeError,
} from '@ceres/queues';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, type ErrorCode } from '../errors/api-error';
import type { ApiErrorBody } from '../schemas/errors';

/** Seconds a client should wait before retrying after a 503; Redis reconnects within about 2 s. */
const RETRY_AFTER_SECONDS = '2';

/** Fastify's own request errors, by their code. Their messages are safe to show. */
const FASTIFY_CODES: Record<string, { code: ErrorCode; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'unsupported content type: send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'INVALID_REQUEST' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'INVALID_BODY', message: 'the body is empty; send a JSON object' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'INVALID_BODY', message: 'the body is not valid JSON' },
};

/** Maps any error to its status and JSON body. Unknown errors become a generic 500. */
export function errorResponse(error: unknown): { statusCode: number; body: ApiErrorBody } {
  if (error instanceof ApiError) {
    return { statusCode: error.statusCode, body: { code: error.code, message: error.message, ...error.details } };
  }
  if (error instanceof PayloadValidationError) {
    return { statusCode: 400, body: { code: 'INVALID_BODY', message: error.message, issues: error.issues } };
  }
  if (error instanceof InvalidJobKeyError) {
    return {
      statusCode: 400,
      body: { code: 'INVALID_BODY', message: error.message, issues: [{ field: error.field ?? '', message: error.message }] },
    };
  }
  if (error instanceof BatchValidationError) {
    return { statusCode: 400, body: { code: 'INVALID_BODY', message: error.message, items: error.items } };
  }
  if (error instanceof UnknownJobTypeError) {
    return { statusCode: 404, body: { code: 'UNKNOWN_JOB_TYPE', message: error.message, known: error.known } };
  }
  if (error instanceof QueueUnavailableError) {
    return { statusCode: 503, body: { code: 'QUEUE_UNAVAILABLE', message: error.message } };
  }
  const fastifyError = error as Partial<FastifyError>;
  const known = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
  if (known) {
    const statusCode = fastifyError.statusCode ?? 400;
    return { statusCode, body: { code: known.code, message: known.message ?? String(fastifyError.message) } };
  }
  // The JSON parser's SyntaxError and its prototype-poisoning error carry a 400 of their own.
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (String(fastifyError.message).includes('forbidden prototype property')) {
      return { statusCode: 400, body: { code: 'INVALID_BODY', message: 'the body contains a forbidden "__proto__" or "constructor.prototype" key' } };
    }
    if (error instanceof SyntaxError) {
      return { statusCode: 400, body: { code: 'INVALID_BODY', message: 'the body is not valid JSON' } };
    }
    const code: ErrorCode =
      status === 404 ? 'NOT_FOUND' : status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : status === 429 ? 'RATE_LIMITED' : 'INVALID_REQUEST';
    return { statusCode: status, body: { code, message: String(fastifyError.message) } };
  }
  return { statusCode: 500, body: { code: 'INTERNAL', message: 'internal error; it has been logged' } };
}

/** The one error handler: JSON with a stable code, never a stack trace; only the unexpected is logged. */
export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const { statusCode, body } = errorResponse(error);
  if (body.code === 'PAYLOAD_TOO_LARGE') {
    body.message = `the request body is larger than ${request.routeOptions.bodyLimit} bytes (API_BODY_LIMIT_BYTES)`;
  }
  if (statusCode === 500) request.log.error({ err: error }, 'unexpected error');
  // An outage is logged once by the connection watcher, not once per refused request.
  else if (statusCode === 503) {
    request.log.debug({ err: error }, 'queue unavailable');
    reply.header('retry-after', RETRY_AFTER_SECONDS);
  }
  return reply.code(statusCode).send(body);
}

/** Unknown paths: 404 with the same error shape. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  return reply
    .code(404)
    .send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.slice(0, 200)}; the routes are listed at GET /docs` });
}
