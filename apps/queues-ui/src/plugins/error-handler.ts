import type { FastifyInstance } from 'fastify';
import { queueUnavailable, sendError } from '../errors';

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
    return sendError(reply, queueUnavailable());
  });
}
