import { errorResponses } from '@ceres/http';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { QueueAdmin } from '../admin/queue-admin';
import type { ActionAudit } from '../access/route-access';

const RunQuery = Type.Object(
  { queue: Type.Optional(Type.String({ minLength: 1, description: 'Which queue, when several hold the id' })) },
  { additionalProperties: false },
);
const RunParams = Type.Object({ id: Type.String({ description: 'The job scheduler id', examples: ['daily-report'] }) });

const Scheduler = Type.Object({
  id: Type.String(),
  queue: Type.String(),
  name: Type.String(),
  pattern: Type.Union([Type.String(), Type.Null()]),
  every: Type.Union([Type.Integer(), Type.Null()]),
  tz: Type.Union([Type.String(), Type.Null()]),
  next: Type.Union([Type.String(), Type.Null()]),
});

const tags = ['schedulers'];
const security = [{ basic: [] }];

/** `/api/schedulers`: the cron job schedulers of every queue, and running one now. */
export async function schedulerRoutes(app: FastifyInstance, { admin, audit }: { admin: QueueAdmin; audit: ActionAudit }) {
  app.get(
    '/api/schedulers',
    {
      // The platform's crons: no tenant's jobs, but not a tenant-scoped account's business either.
      config: { access: 'read' },
      schema: {
        summary: 'The cron job schedulers of every queue',
        tags,
        security,
        response: { 200: Type.Object({ success: Type.Literal(true), schedulers: Type.Array(Scheduler) }), ...errorResponses },
      },
    },
    async () => ({ success: true, schedulers: await admin.schedulers() }),
  );

  app.post<{ Params: Static<typeof RunParams>; Querystring: Static<typeof RunQuery> }>(
    '/api/schedulers/:id/run',
    {
      config: { access: 'scheduler.run' },
      schema: {
        summary: "Add one job now from a scheduler's template; the schedule is untouched",
        tags,
        security,
        params: RunParams,
        querystring: RunQuery,
        response: {
          202: Type.Object({ success: Type.Literal(true), scheduler: Type.String(), queue: Type.String(), jobId: Type.String() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const run = await audit.forRequest(request, { target: { scheduler: request.params.id, queue: request.query.queue ?? null } }, () =>
        admin.runScheduler(request.params.id, request.query.queue),
      );
      request.log.info({ scheduler: request.params.id, ...run }, 'ran job scheduler now');
      return reply.code(202).send({ success: true, scheduler: request.params.id, ...run });
    },
  );
}
