import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { QueueAdmin } from '../admin/queue-admin';
import { parseInput } from './input';

const RunQuery = Type.Object({ queue: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: false });

/** `/api/schedulers`: the cron job schedulers of every queue, and running one now. */
export async function schedulerRoutes(app: FastifyInstance, { admin }: { admin: QueueAdmin }) {
  app.get('/api/schedulers', async () => ({ success: true, schedulers: await admin.schedulers() }));

  app.post<{ Params: { id: string } }>('/api/schedulers/:id/run', async (request, reply) => {
    const { queue } = parseInput(RunQuery, request.query);
    const run = await admin.runScheduler(request.params.id, queue);
    request.log.info({ scheduler: request.params.id, ...run }, 'ran job scheduler now');
    return reply.code(202).send({ success: true, scheduler: request.params.id, ...run });
  });
}
