import { schemaIssues } from '@ceres/app-kit';
import { eraseUserJobs, type QueueClient } from '@ceres/queues';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { badRequest, HttpError } from '../errors';

/** What erasure needs of the database: `@ceres/db`'s `createDb(…)` has it. */
export interface ErasureDb {
  failedJobs: { deleteForUser(userId: string): Promise<number> };
  tokens: { deleteForUser(userId: string): Promise<number> };
}

// The user id travels in the body, not the URL: request URLs are logged, bodies are not.
const EraseBody = Type.Object(
  { userId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]*$', description: 'The platform user id' }) },
  { additionalProperties: false },
);

/**
 * `POST /api/erasure { userId }`: erases one user's data: their jobs in every queue and state,
 * their `failed_jobs` rows and their verification tokens, and answers how many of each it removed.
 * Logged with the counts only.
 */
export async function erasureRoutes(app: FastifyInstance, { client, db }: { client: QueueClient; db: ErasureDb | undefined }) {
  app.post('/api/erasure', async (request) => {
    const [issue] = schemaIssues(EraseBody, request.body ?? {});
    if (issue) throw badRequest('body', issue.field || 'body', issue.message);
    const { userId } = request.body as { userId: string };
    if (!db) {
      throw new HttpError('ERASURE_UNAVAILABLE', 'DATABASE_URL is not set for queues-ui: failed_jobs rows and tokens cannot be erased, so nothing was erased');
    }
    // The archive and the tokens first: a job cannot come back from them, and a retry of this
    // call erases what a concurrent enqueue added meanwhile.
    const failedJobs = await db.failedJobs.deleteForUser(userId);
    const tokens = await db.tokens.deleteForUser(userId);
    const jobs = await eraseUserJobs(client, userId);
    const counts = { jobs: jobs.removed, jobsByQueue: jobs.byQueue, jobsStillRunning: jobs.running, failedJobs, tokens };
    request.log.info(counts, 'user data erased');
    return { success: true, ...counts };
  });
}
