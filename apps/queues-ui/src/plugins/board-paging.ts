import { definePlugin } from '@ceres/http';
import { HttpError, sendError } from '../errors';
import { assertDecimalQuery, MAX_POSITION } from '../admin/paging';

/** Bull Board's page sizes go up to a few hundred; more in one page would be a slow Redis call. */
const MAX_JOBS_PER_PAGE = 1000;

/**
 * Bull Board's API passes `page` and `jobsPerPage` to Redis unchecked: `page=1e20` was a 500 with
 * Redis's error text. Checked here first (400 naming the field).
 */
export const boardPagingGuardPlugin = definePlugin<{ boardPrefix: string }>(
  { name: '@ceres/queues-ui/board-paging-guard', dependencies: ['@ceres/queues-ui/redis-gate'] },
  async (app, { boardPrefix }) => {
    const prefix = `${boardPrefix}/api/`;
    app.addHook('preHandler', async (request, reply) => {
      if (request.method !== 'GET' || !request.url.startsWith(prefix)) return;
      try {
        assertDecimalQuery(request.query, ['page'], 1, MAX_POSITION);
        assertDecimalQuery(request.query, ['jobsPerPage'], 1, MAX_JOBS_PER_PAGE);
      } catch (error) {
        // Bull Board's routes have an error handler of their own: answer here, in this app's shape.
        if (!(error instanceof HttpError)) throw error;
        return sendError(reply, error);
      }
    });
  },
);
