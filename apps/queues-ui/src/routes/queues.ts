import { errorResponses } from '@ceres/http';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CLEANABLE_STATES, JOB_STATES, type QueueAdmin } from '../admin/queue-admin';
import { badRequest } from '../errors';
import { MAX_POSITION } from '../admin/paging';
import type { ActionAudit } from '../access/route-access';

/** The most jobs one `GET …/jobs` page returns. */
export const MAX_PAGE = 1000;

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((value) => Type.Literal(value)));

const QueueParams = Type.Object({ queue: Type.String({ description: 'A queue name', examples: ['email'] }) });

const JobsQuery = Type.Object(
  {
    state: literals(JOB_STATES),
    start: Type.Integer({ minimum: 0, maximum: MAX_POSITION, default: 0, description: 'First position, newest first' }),
    end: Type.Integer({
      minimum: 0,
      maximum: MAX_POSITION,
      default: 49,
      description: `Last position (inclusive); at most ${MAX_PAGE} jobs per page`,
    }),
  },
  { additionalProperties: false },
);

const CleanParams = Type.Object({ queue: QueueParams.properties.queue, state: literals(CLEANABLE_STATES) });

const CleanBody = Type.Object(
  {
    gracePeriod: Type.Integer({ minimum: 0, description: 'Only jobs finished at least this long ago (ms) are removed' }),
    limit: Type.Optional(Type.Integer({ minimum: 1, description: 'At most this many jobs; all matching ones when absent' })),
  },
  { additionalProperties: false, examples: [{ gracePeriod: 86_400_000 }] },
);

const Stats = Type.Object({
  name: Type.String(),
  ...Object.fromEntries(JOB_STATES.map((state) => [state, Type.Integer()])),
  total: Type.Integer(),
});

const Job = Type.Object({
  id: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  state: literals(JOB_STATES),
  data: Type.Unknown({ description: 'The payload; may hold personal data' }),
  attemptsMade: Type.Integer(),
  failedReason: Type.Union([Type.String(), Type.Null()]),
  stacktrace: Type.Array(Type.String()),
  timestamp: Type.Integer(),
  processedOn: Type.Union([Type.Integer(), Type.Null()]),
  finishedOn: Type.Union([Type.Integer(), Type.Null()]),
  delay: Type.Integer(),
  priority: Type.Integer(),
});

const Paused = Type.Object({ success: Type.Literal(true), queue: Type.String(), paused: Type.Boolean() });

const tags = ['queues'];
const security = [{ basic: [] }];

/**
 * `/api/queues/…`: counts, job listings and the operator's actions on one queue. Each route declares
 * the role it needs (`config.access`) and whether a tenant-scoped account may call it (`tenants: 'own'`:
 * it then answers and acts on that tenant's jobs only). Every action is audited.
 */
export async function queueRoutes(app: FastifyInstance, { admin, audit }: { admin: QueueAdmin; audit: ActionAudit }) {
  const tenantOf = (request: FastifyRequest) => request.principal.tenant ?? undefined;
  // An unknown queue is a 404 listing the known ones, whatever the rest of the request says (and
  // before an action is audited: no row names a queue that does not exist).
  const preValidation = async (request: { params: unknown }) => {
    admin.queue((request.params as { queue: string }).queue);
  };
  app.get(
    '/api/queues/stats',
    {
      config: { access: 'read', tenants: 'own' },
      schema: {
        summary: 'Job counts of every queue',
        tags,
        security,
        response: {
          200: Type.Object({ success: Type.Literal(true), timestamp: Type.String(), queues: Type.Record(Type.String(), Stats) }),
          ...errorResponses,
        },
      },
    },
    async (request) => ({ success: true, timestamp: new Date().toISOString(), queues: await admin.allStats(tenantOf(request)) }),
  );

  app.get<{ Params: Static<typeof QueueParams> }>(
    '/api/queues/:queue/stats',
    {
      config: { access: 'read', tenants: 'own' },
      schema: {
        summary: 'Job counts of one queue',
        tags,
        security,
        params: QueueParams,
        response: { 200: Type.Object({ success: Type.Literal(true), timestamp: Type.String(), stats: Stats }), ...errorResponses },
      },
    },
    async (request) => ({
      success: true,
      timestamp: new Date().toISOString(),
      stats: await admin.stats(request.params.queue, tenantOf(request)),
    }),
  );

  app.get<{ Params: Static<typeof QueueParams>; Querystring: Static<typeof JobsQuery> }>(
    '/api/queues/:queue/jobs',
    {
      config: { access: 'read', tenants: 'own' },
      preValidation,
      schema: {
        summary: 'List the jobs of one queue in one state, newest first',
        tags,
        security,
        params: QueueParams,
        querystring: JobsQuery,
        response: {
          200: Type.Object({
            success: Type.Literal(true),
            queue: Type.String(),
            state: literals(JOB_STATES),
            start: Type.Integer(),
            end: Type.Integer(),
            total: Type.Integer(),
            jobs: Type.Array(Job),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { state, start, end } = request.query;
      if (end < start) throw badRequest('request', 'end', `end must be at least start (${start})`);
      if (end - start + 1 > MAX_PAGE) {
        throw badRequest('request', 'end', `at most ${MAX_PAGE} jobs per page: end must be at most ${start + MAX_PAGE - 1}`);
      }
      const { total, jobs } = await admin.jobs(request.params.queue, state, start, end, tenantOf(request));
      return { success: true, queue: request.params.queue, state, start, end, total, jobs };
    },
  );

  const pauseSchema = (summary: string) => ({ summary, tags, security, params: QueueParams, response: { 200: Paused, ...errorResponses } });

  app.post<{ Params: Static<typeof QueueParams> }>(
    '/api/queues/:queue/pause',
    {
      config: { access: 'queue.pause' },
      preValidation,
      schema: pauseSchema('Pause a queue: workers finish their current jobs and take no new ones'),
    },
    async (request) => {
      const { queue } = request.params;
      await audit.forRequest(request, { target: { queue } }, () => admin.pause(queue));
      return { success: true, queue: request.params.queue, paused: await admin.isPaused(request.params.queue) };
    },
  );

  app.post<{ Params: Static<typeof QueueParams> }>(
    '/api/queues/:queue/resume',
    { config: { access: 'queue.resume' }, preValidation, schema: pauseSchema('Resume a paused queue') },
    async (request) => {
      const { queue } = request.params;
      await audit.forRequest(request, { target: { queue } }, () => admin.resume(queue));
      return { success: true, queue: request.params.queue, paused: await admin.isPaused(request.params.queue) };
    },
  );

  app.post<{ Params: Static<typeof CleanParams>; Body: Static<typeof CleanBody> }>(
    '/api/queues/:queue/clean/:state',
    {
      config: { access: 'queue.clean' },
      preValidation,
      schema: {
        summary: 'Remove finished jobs (completed or failed) older than a grace period',
        tags,
        security,
        params: CleanParams,
        body: CleanBody,
        response: {
          200: Type.Object({
            success: Type.Literal(true),
            queue: Type.String(),
            state: literals(CLEANABLE_STATES),
            gracePeriod: Type.Integer(),
            removed: Type.Integer(),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { queue, state } = request.params;
      const { gracePeriod, limit } = request.body;
      const removed = await audit.forRequest(request, { target: { queue, state }, params: { gracePeriod, limit } }, () =>
        admin.clean(queue, state, gracePeriod, limit),
      );
      request.log.info({ queue, state, gracePeriod, removed }, 'cleaned jobs');
      return { success: true, queue, state, gracePeriod, removed };
    },
  );

  app.post<{ Params: Static<typeof QueueParams> }>(
    '/api/queues/:queue/retry',
    {
      config: { access: 'job.retry', tenants: 'own' },
      preValidation,
      schema: {
        summary: 'Retry every failed job of a queue (a tenant-scoped account: its tenant’s), attempts reset',
        tags,
        security,
        params: QueueParams,
        response: { 200: Type.Object({ success: Type.Literal(true), queue: Type.String(), retried: Type.Integer() }), ...errorResponses },
      },
    },
    async (request) => {
      const queue = request.params.queue;
      const tenant = tenantOf(request);
      const retried = await audit.forRequest(request, { target: { queue, state: 'failed' } }, () => admin.retryFailed(queue, tenant));
      request.log.info({ queue: request.params.queue, retried }, 'retried failed jobs');
      return { success: true, queue: request.params.queue, retried };
    },
  );
}
