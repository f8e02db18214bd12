import { ErrorBody, errorResponses } from '@ceres/http';
import { DEFAULT_TENANT, eraseUserData, ErasureUserId, QUEUE_NAMES, TENANT_ID, type ErasureStores, type QueueClient } from '@ceres/queues';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors';
import type { ActionAudit } from '../access/route-access';

/** What erasure needs of the database: `@ceres/db`'s `createDb(…)` has it. */
export type ErasureDb = ErasureStores;

// The user id travels in the body, not the URL: request URLs are logged, bodies are not. A user id
// is unique within a tenant only: the tenant names whose user it is (`default` when absent).
const EraseBody = Type.Object(
  {
    userId: ErasureUserId,
    tenant: Type.Optional(
      Type.String({
        pattern: TENANT_ID.source,
        description: "The tenant whose user it is (another tenant's user with the same id is left alone)",
        default: DEFAULT_TENANT,
      }),
    ),
  },
  { additionalProperties: false, examples: [{ userId: 'user-123' }] },
);

const Count = (description: string) => Type.Integer({ minimum: 0, description });

const Erased = Type.Object(
  {
    success: Type.Literal(true),
    jobs: Count('Jobs removed, all queues and states'),
    jobsByQueue: Type.Object(Object.fromEntries(QUEUE_NAMES.map((name) => [name, Count(`Jobs removed from ${name}`)]))),
    jobsStillRunning: Count('Jobs of the user running right now, which BullMQ cannot remove; call again once they finished'),
    failedJobs: Count('failed_jobs rows removed'),
    tokens: Count('Verification tokens removed'),
    newsletterRecipients: Count('Newsletter recipient rows whose address and first name were blanked'),
    newsletterOptOuts: Count(
      'Newsletter opt-outs kept by user id, their address replaced by its keyed digest (dropped without JOBS_ENCRYPTION_KEYS)',
    ),
    sentMails: Count('sent_mails records of the user’s mails removed (their job ids contain the user id)'),
    ledgerRows: Count('job_ledger rows of the user’s jobs removed (those whose ledger key is the user id)'),
  },
  {
    description: 'How many of each were removed',
    examples: [
      {
        success: true,
        jobs: 4,
        jobsByQueue: { email: 2, slack: 0, maintenance: 0, newsletter: 0, files: 2 },
        jobsStillRunning: 0,
        failedJobs: 1,
        tokens: 2,
        newsletterRecipients: 1,
        newsletterOptOuts: 0,
        sentMails: 1,
        ledgerRows: 6,
      },
    ],
  },
);

const UNAVAILABLE = 'DATABASE_URL is not set for queues-ui: failed_jobs rows and tokens cannot be erased, so nothing was erased';

/** The error schema with this route's own examples (the document shows what a client gets). */
const errorWith = (description: string, examples: Array<Static<typeof ErrorBody>>) =>
  Type.Object(ErrorBody.properties, { description, examples });

/**
 * `POST /api/erasure { userId, tenant? }`: erases one tenant's user's data (`eraseUserData`, the operation the CLI's
 * `erase` runs too): their jobs in every queue and state, their `failed_jobs` rows, their
 * verification tokens and their newsletter rows' address and name, and answers how many of each it removed. Logged with the counts only.
 */
export async function erasureRoutes(
  app: FastifyInstance,
  { client, db, audit }: { client: QueueClient; db: ErasureDb | undefined; audit: ActionAudit },
) {
  app.post<{ Body: Static<typeof EraseBody> }>(
    '/api/erasure',
    {
      // A tenant-scoped admin erases its own tenant's users only.
      config: { access: 'erasure', tenants: 'own' },
      schema: {
        summary: "Erase one user's data: their jobs in every queue and state, failed_jobs rows, tokens and newsletter addresses",
        description:
          'Jobs are matched on the payload’s userId. A job running at that moment cannot be removed: it is counted in jobsStillRunning; call again once it finished. ' +
          'Needs DATABASE_URL in queues-ui’s environment, else 503 ERASURE_UNAVAILABLE and nothing is erased. Logged with the counts only.',
        tags: ['personal data'],
        security: [{ basic: [] }],
        body: EraseBody,
        response: {
          200: Erased,
          400: errorWith('The body is not `{ "userId": "…" }` (INVALID_BODY)', [
            {
              code: 'INVALID_BODY',
              message: 'invalid body: userId must be at least 1 characters long',
              field: 'userId',
              issues: [{ field: 'userId', message: 'userId must be at least 1 characters long' }],
            },
          ]),
          503: errorWith(
            'No DATABASE_URL (ERASURE_UNAVAILABLE: nothing was erased), or Redis unavailable (QUEUE_UNAVAILABLE: call again, an erasure can be repeated)',
            [{ code: 'ERASURE_UNAVAILABLE', message: UNAVAILABLE }],
          ),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      if (!db) throw new HttpError('ERASURE_UNAVAILABLE', UNAVAILABLE);
      const scoped = request.principal.tenant;
      const tenant = request.body.tenant ?? scoped ?? DEFAULT_TENANT;
      if (scoped !== null && tenant !== scoped) {
        throw new HttpError('TENANT_SCOPED_ACCOUNT', `this account is scoped to tenant ${scoped}: it erases that tenant's users only`);
      }
      // The audit row names the tenant only: never the user id (it is personal data, and the row outlives the erasure).
      const counts = await audit.forRequest(request, { tenant }, () =>
        eraseUserData({ client, db, log: request.log }, request.body.userId, { tenant }),
      );
      return { success: true as const, ...counts };
    },
  );
}
