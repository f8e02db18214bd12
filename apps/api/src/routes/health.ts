import { type QueueClient } from '@ceres/queues';
import { withTimeout } from '@ceres/app-kit';
import type { FastifyPluginAsync } from 'fastify';
import { Health } from '../schemas/jobs';

/** How long /health waits for PONG before calling Redis down. */
export const HEALTH_PING_TIMEOUT_MS = 300;

/** PING on the producer connection, bounded by a timeout: true when Redis answered in time. */
export function pingRedis(queues: QueueClient, timeoutMs = HEALTH_PING_TIMEOUT_MS): Promise<boolean> {
  if (!queues.isReady()) return Promise.resolve(false);
  return withTimeout(queues.connection.ping(), timeoutMs, 'redis PING').then(
    (reply) => reply === 'PONG',
    () => false,
  );
}

/** `GET /health` (no auth): 200 while Redis answers, 503 otherwise; never hangs. */
export const healthRoutes: FastifyPluginAsync<{ queues: QueueClient }> = async (app, { queues }) => {
  app.get(
    '/health',
    {
      schema: {
        summary: 'Is the API able to enqueue? (no auth)',
        tags: ['health'],
        response: { 200: Health, 503: Health },
      },
    },
    async (_request, reply) => {
      if (await pingRedis(queues)) return { status: 'ok', redis: 'up' } as const;
      reply.code(503);
      return { status: 'unavailable', redis: 'down' } as const;
    },
  );
};
