import { schemaIssues, unscopedJobId, type QueueClient } from '@ceres/queues';
import type { FastifyPluginAsync } from 'fastify';
import { errorResponses, invalidBody, issuesMessage } from '@ceres/http';
import { bodyBySchema, producerError, splitOptions } from '../enqueue/body';
import { PLATFORM_JOB_TYPES, unknownJobType } from '../enqueue/platform-job-types';
import { BatchAccepted, BatchEnvelope, batchBodySchema, MAX_BATCH_ITEMS } from '../schemas/jobs';

/** `POST /jobs/:queue/:job/batch`: up to 1000 payloads enqueued together, or none of them. */
export const batchRoutes: FastifyPluginAsync<{ queues: QueueClient }> = async (app, { queues }) => {
  for (const { queue, job, type, definition } of PLATFORM_JOB_TYPES) {
    app.post(
      `/jobs/${queue}/${job}/batch`,
      {
        config: { tokenScope: 'enqueue' },
        validatorCompiler: bodyBySchema((body) => {
          const issues = schemaIssues(BatchEnvelope, body);
          if (issues.length > 0) return invalidBody(issuesMessage(`invalid ${queue}/${job} batch`, issues), issues);
          const { payload, options } = splitOptions(body);
          return producerError(() => queues.checkBulk(type, (payload as { items: unknown[] }).items, options));
        }),
        schema: {
          summary: `Enqueue up to ${MAX_BATCH_ITEMS} ${queue}/${job} jobs at once`,
          description: `${definition.description}. One invalid item rejects the whole batch and nothing is enqueued.`,
          tags: [queue],
          security: [{ bearer: [] }],
          body: batchBodySchema(queue, job, definition),
          response: { 202: BatchAccepted, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { payload, options } = splitOptions(request.body);
        const items = (payload as { items: unknown[] }).items;
        // The token's tenant, never the body's (a `tenant` field is an unknown field: 400).
        const { tenant } = request;
        const results = await queues.enqueueBulk(type, items as never[], { ...options, tenant } as never);
        reply.code(202);
        return { queue, job, items: results.map((result) => ({ ...result, jobId: unscopedJobId(tenant, result.jobId) ?? result.jobId })) };
      },
    );
  }

  app.post<{ Params: { queue: string; job: string } }>(
    '/jobs/:queue/:job/batch',
    { config: { tokenScope: 'enqueue' }, schema: { hide: true, response: errorResponses } },
    async (request) => {
      throw unknownJobType(request.params.queue, request.params.job);
    },
  );
};
