import type { EnqueueOptions, QueueClient } from '@ceres/queues';
import type { FastifyPluginAsync } from 'fastify';
import { bodyByQueueClient } from '../plugins/validator';
import { errorResponses } from '../schemas/errors';
import { EnqueueAccepted, enqueueBodySchema } from '../schemas/jobs';
import { PLATFORM_JOB_TYPES, unknownJobType } from './platform-job-types';

const hasOwn = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);

/**
 * Splits `{ ...payload, delay?, priority? }` into the payload and the options. The common case, a
 * body without options, is passed through as it is: no copy.
 */
export function splitOptions(body: unknown): { payload: unknown; options: EnqueueOptions | undefined } {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !(hasOwn(body, 'delay') || hasOwn(body, 'priority'))) {
    return { payload: body, options: undefined };
  }
  const { delay, priority, ...payload } = body as Record<string, unknown>;
  const options: Record<string, unknown> = {};
  if (delay !== undefined) options.delay = delay;
  if (priority !== undefined) options.priority = priority;
  return { payload, options: options as EnqueueOptions };
}

/** `POST /jobs/:queue/:job` for each platform job type, from the registry. */
export const jobRoutes: FastifyPluginAsync<{ queues: QueueClient }> = async (app, { queues }) => {
  for (const { queue, job, type, definition } of PLATFORM_JOB_TYPES) {
    app.post(
      `/jobs/${queue}/${job}`,
      {
        validatorCompiler: bodyByQueueClient,
        schema: {
          summary: `Enqueue ${queue}/${job}`,
          description: `${definition.description}. The same business key twice gives the same jobId with duplicate: true.`,
          tags: [queue],
          security: [{ bearer: [] }],
          body: enqueueBodySchema(queue, job, definition),
          response: { 202: EnqueueAccepted, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { payload, options } = splitOptions(request.body);
        const result = await queues.enqueue(type, payload as never, options as never);
        reply.code(202);
        return { jobId: result.jobId, queue, job, duplicate: result.duplicate };
      },
    );
  }

  // Any other queue/job: a 404 that lists the known ones, rather than a bare "no route".
  app.post<{ Params: { queue: string; job: string } }>(
    '/jobs/:queue/:job',
    { schema: { hide: true, response: errorResponses } },
    async (request) => {
      throw unknownJobType(request.params.queue, request.params.job);
    },
  );
};
