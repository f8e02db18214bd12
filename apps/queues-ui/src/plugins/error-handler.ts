import type { FastifyError, FastifyInstance } from 'fastify';
import { HttpError, QueuesUnavailableError } from '../errors';

/**
 * Every error becomes JSON `{ code, message }` (plus `field`, `known`… where they help), never a
 * stack trace. Unexpected errors that `isOutage` recognises (Redis unreachable or hung) are
 * answered 503, other ones 500 and logged.
 */
export function installErrorHandler(app: FastifyInstance, isOutage: (error: unknown) => boolean): void {
  app.setErrorHandler((error: FastifyError | HttpError | Error, request, reply) => {
    if (error instanceof HttpError) {
      return reply.code(error.statusCode).send({ code: error.code, message: error.message, ...error.extra });
    }
    const statusCode = (error as FastifyError).statusCode;
    if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
      return reply.code(statusCode).send({ code: (error as FastifyError).code ?? 'BAD_REQUEST', message: error.message });
    }
    if (isOutage(error)) {
      const unavailable = new QueuesUnavailableError();
      return reply.code(unavailable.statusCode).send({ code: unavailable.code, message: unavailable.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ code: 'INTERNAL_ERROR', message: 'internal error; see the queues-ui log' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
}

/**
 * Answers 503 at once for routes that need Redis while the connection is down, instead of letting
 * BullMQ calls fail one by one (or wait for the first connect). Replies directly: Bull Board's
 * routes have an error handler of their own that would turn a thrown error into a 500.
 */
export function installRedisGate(app: FastifyInstance, isRedisReady: () => boolean, prefixes: readonly string[]): void {
  app.addHook('onRequest', async (request, reply) => {
    if (isRedisReady()) return;
    const path = request.url.split('?')[0]!;
    if (!prefixes.some((prefix) => path.startsWith(prefix))) return;
    const unavailable = new QueuesUnavailableError();
    return reply.code(unavailable.statusCode).send({ code: unavailable.code, message: unavailable.message });
  });
}
