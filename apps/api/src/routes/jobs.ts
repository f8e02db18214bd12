import { errorResponses } from '@ceres/http';
import { unscopedJobId, type QueueClient } from '@ceres/queues';
import type { FastifyPluginAsync } from 'fastify';
import { bodyBySchema, producerError, splitOptions } from '../enqueue/body';
import { PLATFORM_JOB_TYPES, unknownJobType } from '../enqueue/platform-job-types';
import { EnqueueAccepted, enqueueBodySchema } from '../schemas/jobs';

/** `POST /jobs/:queue/:job` for each platform job type, from the registry. */
export const jobRoutes: FastifyPluginAsync<{ queues: QueueClient }> = async (app, { queues }) => {
  for (const { queue, job, type, definition } of PLATFORM_JOB_TYPES) {
    app.post(
      `/jobs/${queue}/${job}`,
      {
        config: { tokenScope: 'enqueue' },
        validatorCompiler: bodyBySchema((body) => {
          const { payload, options } = splitOptions(body);
          return producerError(() => queues.check(type, payload, options));
        }),
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
        // The token's tenant, never the body's (a `tenant` field is an unknown field: 400).
        const { tenant } = request;
        const result = await queues.enqueue(type, payload as never, { ...options, tenant } as never);
        reply.code(202);
        return { jobId: unscopedJobId(tenant, result.jobId) ?? result.jobId, queue, job, duplicate: result.duplicate };
      },
    );
  }

  // Any other queue/job: a 404 that lists the known ones, rather than a bare "no route".
  app.post<{ Params: { queue: string; job: string } }>(
    '/jobs/:queue/:job',
    { config: { tokenScope: 'enqueue' }, schema: { hide: true, response: errorResponses } },
    async (request) => {
      throw unknownJobType(request.params.queue, request.params.job);
    },
  );
};
