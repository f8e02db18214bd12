import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CLEANABLE_STATES, JOB_STATES, type QueueAdmin } from '../admin/queue-admin';
import { BadRequestError } from '../errors';
import { assertDecimalQuery, MAX_POSITION, parseInput } from './input';

/** The most jobs one `GET …/jobs` page returns. */
export const MAX_PAGE = 1000;

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((value) => Type.Literal(value)));

const JobsQuery = Type.Object(
  {
    state: literals(JOB_STATES),
    start: Type.Integer({ minimum: 0, maximum: MAX_POSITION, default: 0 }),
    end: Type.Integer({ minimum: 0, maximum: MAX_POSITION, default: 49 }),
  },
  { additionalProperties: false },
);

const CleanParams = Type.Object({ state: literals(CLEANABLE_STATES) });

const CleanBody = Type.Object(
  {
    /** Only jobs finished at least this long ago (ms) are removed. */
    gracePeriod: Type.Integer({ minimum: 0 }),
    /** At most this many jobs; all matching ones when absent. */
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

type QueueParams = { queue: string };

/** `/api/queues/…`: counts, job listings and the operator's actions on one queue. */
export async function queueRoutes(app: FastifyInstance, { admin }: { admin: QueueAdmin }) {
  app.get('/api/queues/stats', async () => ({
    success: true,
    timestamp: new Date().toISOString(),
    queues: await admin.allStats(),
  }));

  app.get<{ Params: QueueParams }>('/api/queues/:queue/stats', async (request) => ({
    success: true,
    timestamp: new Date().toISOString(),
    stats: await admin.stats(request.params.queue),
  }));

  app.get<{ Params: QueueParams }>('/api/queues/:queue/jobs', async (request) => {
    admin.queue(request.params.queue);
    assertDecimalQuery(request.query, ['start', 'end'], 0, MAX_POSITION);
    const { state, start, end } = parseInput(JobsQuery, request.query, { convert: true });
    if (end < start) throw new BadRequestError('end', `end must be at least start (${start})`);
    if (end - start + 1 > MAX_PAGE) {
      throw new BadRequestError('end', `at most ${MAX_PAGE} jobs per page: end must be at most ${start + MAX_PAGE - 1}`);
    }
    const { total, jobs } = await admin.jobs(request.params.queue, state, start, end);
    return { success: true, queue: request.params.queue, state, start, end, total, jobs };
  });

  app.post<{ Params: QueueParams }>('/api/queues/:queue/pause', async (request) => {
    await admin.pause(request.params.queue);
    return { success: true, queue: request.params.queue, paused: await admin.isPaused(request.params.queue) };
  });

  app.post<{ Params: QueueParams }>('/api/queues/:queue/resume', async (request) => {
    await admin.resume(request.params.queue);
    return { success: true, queue: request.params.queue, paused: await admin.isPaused(request.params.queue) };
  });

  app.post<{ Params: QueueParams & { state: string } }>('/api/queues/:queue/clean/:state', async (request) => {
    admin.queue(request.params.queue);
    const { state } = parseInput(CleanParams, { state: request.params.state });
    const { gracePeriod, limit } = parseInput(CleanBody, request.body);
    const removed = await admin.clean(request.params.queue, state, gracePeriod, limit);
    request.log.info({ queue: request.params.queue, state, gracePeriod, removed }, 'cleaned jobs');
    return { success: true, queue: request.params.queue, state, gracePeriod, removed };
  });

  app.post<{ Params: QueueParams }>('/api/queues/:queue/retry', async (request) => {
    const retried = await admin.retryFailed(request.params.queue);
    request.log.info({ queue: request.params.queue, retried }, 'retried failed jobs');
    return { success: true, queue: request.params.queue, retried };
  });
}
