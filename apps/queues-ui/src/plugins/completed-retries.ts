import { NO_COMPLETED_RETRIES, type QueueName } from '@ceres/queues';
import { definePlugin } from '@ceres/http';
import type { QueueAdmin } from '../admin/queue-admin';
import { HttpError, sendError } from '../errors';

/**
 * Bull Board only hides its "Retry" buttons for completed jobs (`allowCompletedRetries: false`);
 * its API still retries them. This refuses those calls for the queues that declare
 * `retryCompleted: false` (`NO_COMPLETED_RETRIES`): "Retry all" on the Completed tab, and ↻ on a
 * job that is completed.
 */
export const completedRetryGuardPlugin = definePlugin<{ admin: QueueAdmin; boardPrefix: string }>(
  { name: '@ceres/queues-ui/completed-retry-guard', dependencies: ['@ceres/queues-ui/redis-gate'] },
  async (app, { admin, boardPrefix }) => {
    const retryAll = `${boardPrefix}/api/queues/:queueName/retry/:queueStatus`;
    const retryOne = `${boardPrefix}/api/queues/:queueName/:jobId/retry`;
    app.addHook('preHandler', async (request, reply) => {
      if (request.method !== 'PUT') return;
      const url = request.routeOptions.url;
      if (url !== retryAll && url !== retryOne) return;
      const params = request.params as { queueName?: string; jobId?: string; queueStatus?: string };
      if (!NO_COMPLETED_RETRIES.has(params.queueName as QueueName)) return;
      const completed =
        url === retryAll
          ? params.queueStatus === 'completed'
          : (await admin.queue(params.queueName!).getJobState(params.jobId!)) === 'completed';
      if (!completed) return;
      return sendError(
        reply,
        new HttpError(
          'COMPLETED_RETRY_DISABLED',
          `completed ${params.queueName} jobs are not retried: running one again sends its mail again`,
        ),
      );
    });
  },
);
