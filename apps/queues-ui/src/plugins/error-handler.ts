import { definePlugin } from '@ceres/http';
import { queueUnavailable, sendError } from '../errors';

/**
 * Answers 503 at once for routes that need Redis while the connection is down, instead of letting
 * BullMQ calls fail one by one (or wait for the first connect). Replies directly: Bull Board's
 * routes have an error handler of their own that would turn a thrown error into a 500. After the
 * credentials and the cross-site check: nothing about Redis is revealed before them.
 */
export const redisGatePlugin = definePlugin<{ isRedisReady: () => boolean; prefixes: readonly string[] }>(
  { name: '@ceres/queues-ui/redis-gate', dependencies: ['@ceres/http/basic-auth', '@ceres/queues-ui/cross-site-guard'] },
  async (app, { isRedisReady, prefixes }) => {
    app.addHook('onRequest', async (request, reply) => {
      if (isRedisReady()) return;
      const path = request.url.split('?')[0]!;
      if (!prefixes.some((prefix) => path.startsWith(prefix))) return;
      return sendError(reply, queueUnavailable());
    });
  },
);
