import { errorResponses } from '@ceres/http';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { auditUnavailable, type ActionAudit } from '../access/route-access';
import { badRequest } from '../errors';

/** The most rows one page returns. */
export const MAX_AUDIT_PAGE = 1000;

const AuditQuery = Type.Object(
  {
    before: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Rows older than this id: the `id` of the last row of the previous page' }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: MAX_AUDIT_PAGE, default: 100, description: `Rows per page (at most ${MAX_AUDIT_PAGE})` }),
    actor: Type.Optional(Type.String({ minLength: 1, description: 'Only this actor, e.g. `account:ana`, `bootstrap:admin`' })),
    tenant: Type.Optional(Type.String({ minLength: 1, description: 'Only the rows of this tenant' })),
    action: Type.Optional(Type.String({ minLength: 1, description: 'Only this action, e.g. `job.retry`' })),
    since: Type.Optional(
      Type.String({
        pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,3})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?$',
        description: 'Only rows at or after this time (ISO 8601: a date, or a date and time with its zone)',
        examples: ['2026-12-01T00:00:00Z'],
      }),
    ),
  },
  { additionalProperties: false },
);

const AuditRow = Type.Object({
  id: Type.Integer(),
  at: Type.String({ description: 'ISO 8601' }),
  actor: Type.String(),
  role: Type.String(),
  tenant: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]), {
    description: 'What was acted on: queue, job id, scheduler… (ids, never personal data)',
  }),
  params: Type.Record(Type.String(), Type.Unknown(), { description: 'The parameters, personal and secret values masked' }),
  outcome: Type.String({ description: '`ok`, or `error: <code>`' }),
  clientAddress: Type.Union([Type.String(), Type.Null()]),
  prevHash: Type.String(),
  hash: Type.String(),
});

/** `GET /api/audit`: the audit trail, newest first (admin). */
export async function auditRoutes(app: FastifyInstance, { audit }: { audit: ActionAudit }) {
  app.get<{ Querystring: Static<typeof AuditQuery> }>(
    '/api/audit',
    {
      // A tenant-scoped admin reads its tenant's rows only.
      config: { access: 'audit.read', tenants: 'own' },
      schema: {
        summary: 'The audit trail of operator actions, newest first',
        description:
          'One row per mutating action (admin API, Bull Board, CLI): who, with which role, on which tenant and target, the masked parameters, the outcome and the client address. ' +
          'Rows are hash-chained (`ceres-jobs audit verify` checks the chain). Page with `before=<id of the last row>`. 503 AUDIT_UNAVAILABLE without PostgreSQL.',
        tags: ['audit'],
        security: [{ basic: [] }],
        querystring: AuditQuery,
        response: {
          200: Type.Object({
            success: Type.Literal(true),
            rows: Type.Array(AuditRow),
            next: Type.Union([Type.Integer(), Type.Null()], { description: 'The `before` of the next page; null on the last one' }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const log = audit.reader();
      const { before, limit, actor, action } = request.query;
      const since = request.query.since === undefined ? undefined : new Date(request.query.since);
      if (since !== undefined && Number.isNaN(since.getTime())) throw badRequest('request', 'since', 'since must be a valid date');
      const tenant = request.principal.tenant ?? request.query.tenant;
      const rows = await log.page({ beforeId: before, limit, actor, tenant, action, since }).catch((error: unknown) => {
        request.log.warn({ err: error }, 'cannot read the audit trail');
        throw auditUnavailable('the audit trail cannot be read (PostgreSQL is unreachable); try again shortly');
      });
      return {
        success: true as const,
        rows: rows.map((row) => ({ ...row, at: row.at.toISOString() })),
        next: rows.length === limit ? rows[rows.length - 1]!.id : null,
      };
    },
  );
}
