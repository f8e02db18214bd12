import type { FastifyInstance } from 'fastify';
import type { QueueAdmin } from '../admin/queue-admin';
import { withTimeout } from '@ceres/app-kit';

/** `GET /health`, the one route without auth: 200 healthy, 503 when the queues cannot be read. */
export async function healthRoutes(
  app: FastifyInstance,
  { admin, isRedisReady, timeoutMs }: { admin: QueueAdmin; isRedisReady: () => boolean; timeoutMs: number },
) {
  app.get('/health', { config: { public: true } }, async (request, reply) => {
    const timestamp = new Date().toISOString();
    if (!isRedisReady()) {
      return reply.code(503).send({ status: 'unhealthy', message: 'Redis is not connected', details: {}, timestamp });
    }
    try {
      const details = await withTimeout(admin.allStats(), timeoutMs, 'reading the queue counts');
      return { status: 'healthy', message: 'all queues reachable', details, timestamp };
    } catch (error) {
      request.log.warn({ err: error }, 'health check failed');
      return reply.code(503).send({
        status: 'unhealthy',
        message: `cannot read the queues: ${(error as Error).message}`,
        details: {},
        timestamp,
      });
    }
  });
}
