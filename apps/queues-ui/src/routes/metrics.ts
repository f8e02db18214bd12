import type { FastifyInstance } from 'fastify';
import type { QueueMetrics } from '../metrics/queue-metrics';

/** `GET /metrics`: Prometheus text format; answers 200 with `ceres_queue_redis_up 0` while Redis is down. */
export async function metricsRoutes(app: FastifyInstance, { metrics }: { metrics: QueueMetrics }) {
  app.get(
    '/metrics',
    // Per-tenant series name every tenant: refused to a tenant-scoped account.
    {
      config: { access: 'read' },
      schema: { summary: 'Prometheus text format, read from Redis at each scrape', tags: ['metrics'], security: [{ basic: [] }] },
    },
    async (_request, reply) => {
      const body = await metrics.render();
      return reply.type(metrics.contentType).send(body);
    },
  );
}
