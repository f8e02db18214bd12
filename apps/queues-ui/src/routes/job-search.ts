import type { Db } from '@ceres/db';
import { errorResponses, HttpError } from '@ceres/http';
import {
  DEFAULT_TENANT,
  JobSearchInputError,
  MAX_SEARCH_PAGE,
  QueueUnavailableError,
  SEARCH_STATES,
  searchJobs,
  type QueueClient,
} from '@ceres/queues';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../errors';

/** What the search reads of PostgreSQL: the ledger, and the tenants whose in-flight jobs a key may have. */
export type JobSearchDb = Pick<Db, 'jobLedger' | 'tenants'>;

const Instant = (what: string) =>
  Type.String({
    pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,3})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?$',
    description: `${what} (ISO 8601: a date, or a date and time with its zone)`,
    examples: ['2026-12-01T00:00:00Z'],
  });

const SearchQuery = Type.Object(
  {
    queue: Type.Optional(Type.String({ minLength: 1, description: 'Only this queue' })),
    type: Type.Optional(Type.String({ minLength: 1, description: 'Only this job type: `email/welcome`, or `welcome`' })),
    key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: "The job type's ledger key: a user id, a campaign id",
        examples: ['user-123'],
      }),
    ),
    state: Type.Optional(Type.String({ description: `One of ${SEARCH_STATES.join(', ')}` })),
    since: Type.Optional(Instant('Finished at or after')),
    until: Type.Optional(Instant('Finished before')),
    error: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'The (masked) error contains this text, any case' })),
    tenant: Type.Optional(Type.String({ minLength: 1, description: "Only this tenant's jobs (a tenant-scoped account: its own, always)" })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'The `nextCursor` of the previous page' })),
    limit: Type.Integer({ minimum: 1, maximum: MAX_SEARCH_PAGE, default: 50, description: `Jobs per page (at most ${MAX_SEARCH_PAGE})` }),
  },
  { additionalProperties: false },
);

const FoundJob = Type.Object({
  source: Type.Union([Type.Literal('ledger'), Type.Literal('redis')], { description: '`ledger`: finished; `redis`: still in flight' }),
  queue: Type.String(),
  type: Type.String(),
  jobId: Type.String({ description: "The job id in Redis (a tenant's carry its `<tenant>@` prefix)" }),
  tenant: Type.String(),
  key: Type.Union([Type.String(), Type.Null()]),
  state: Type.String(),
  enqueuedAt: Type.String({ description: 'ISO 8601' }),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer(),
  result: Type.Unknown({ description: 'What the processor returned, for job types that keep it (`keepResult`); addresses masked' }),
  error: Type.Union([Type.String(), Type.Null()], { description: 'The error, addresses masked' }),
});

const databaseUnavailable = (message: string) => new HttpError('DATABASE_UNAVAILABLE', message);

/** `GET /api/jobs/search`: finished jobs from the job ledger, and jobs in flight with the key from Redis. */
export async function jobSearchRoutes(app: FastifyInstance, { client, db }: { client: QueueClient; db: JobSearchDb | undefined }) {
  app.get<{ Querystring: Static<typeof SearchQuery> }>(
    '/api/jobs/search',
    {
      // A tenant-scoped account finds its tenant's jobs only.
      config: { access: 'jobs.search', tenants: 'own' },
      schema: {
        summary: 'Search jobs by key, queue, type, state, time or error',
        description:
          'Finished jobs (completed, or failed for good) come from the job ledger in PostgreSQL, newest first, kept JOB_LEDGER_RETENTION_DAYS: page with `cursor=<nextCursor>`. ' +
          'With a `key` (and no time or error filter), the first page also lists in `inFlight` the jobs with that key still waiting, delayed or active in Redis, for the job types whose job id is built from it. ' +
          'Errors and results are masked. 503 DATABASE_UNAVAILABLE without PostgreSQL.',
        tags: ['jobs'],
        security: [{ basic: [] }],
        querystring: SearchQuery,
        response: {
          200: Type.Object({
            success: Type.Literal(true),
            jobs: Type.Array(FoundJob),
            inFlight: Type.Array(FoundJob),
            nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'The `cursor` of the next page; null on the last one' }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      if (!db) throw databaseUnavailable('DATABASE_URL is not set for queues-ui: there is no job ledger to search');
      const { since, until, tenant, ...rest } = request.query;
      const date = (field: string, value: string | undefined) => {
        if (value === undefined) return undefined;
        const parsed = new Date(value);
        if (Number.isNaN(parsed.getTime())) throw badRequest('request', field, `${field} must be a valid date`);
        return parsed;
      };
      const scoped = request.principal.tenant;
      if (scoped !== null && tenant !== undefined && tenant !== scoped)
        throw badRequest('request', 'tenant', `tenant: this account sees tenant ${scoped} only`);
      try {
        const found = await searchJobs(
          {
            client,
            ledger: db.jobLedger,
            tenants: async () => [DEFAULT_TENANT, ...(await db.tenants.list()).map((row) => row.id).filter((id) => id !== DEFAULT_TENANT)],
          },
          { ...rest, since: date('since', since), until: date('until', until), tenant: scoped ?? tenant },
        );
        return { success: true as const, ...found };
      } catch (error) {
        if (error instanceof JobSearchInputError) throw badRequest('request', error.field, error.message);
        if (error instanceof HttpError) throw error;
        if (error instanceof QueueUnavailableError || client.isOutage(error)) throw error;
        request.log.warn({ err: error }, 'cannot search the job ledger');
        throw databaseUnavailable('the job ledger cannot be read (PostgreSQL is unreachable); try again shortly');
      }
    },
  );
}
