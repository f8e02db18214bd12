import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';

/** The stable `code` of every error either app answers, with its status; clients switch on codes, never on messages. */
export const ERROR_CODES = {
  INVALID_BODY: 400,
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  CROSS_SITE_REQUEST: 403,
  COMPLETED_RETRY_DISABLED: 403,
  ADD_JOB_DISABLED: 403,
  OBLITERATE_DISABLED: 403,
  ROLE_REQUIRED: 403,
  SCOPE_REQUIRED: 403,
  TENANT_SCOPED_ACCOUNT: 403,
  NOT_FOUND: 404,
  UNKNOWN_JOB_TYPE: 404,
  UNKNOWN_QUEUE: 404,
  UNKNOWN_SCHEDULER: 404,
  JOB_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CAMPAIGN_NOT_FOUND: 404,
  AMBIGUOUS_SCHEDULER: 409,
  CAMPAIGN_STATE_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  QUEUE_UNAVAILABLE: 503,
  ERASURE_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  AUDIT_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const FieldIssue = Type.Object({
  field: Type.String({ description: 'Dotted path of the field, "" for the body itself' }),
  message: Type.String(),
});
export type FieldIssue = Static<typeof FieldIssue>;

/** The one error body of both apps: a stable `code`, a message naming the field, and the details that apply. */
export const ErrorBody = Type.Object(
  {
    code: Type.Union(
      Object.keys(ERROR_CODES).map((code) => Type.Literal(code)),
      { description: 'Stable error code' },
    ),
    message: Type.String(),
    field: Type.Optional(Type.String({ description: 'The (first) bad field (400)' })),
    issues: Type.Optional(Type.Array(FieldIssue, { description: 'Each bad field (400)' })),
    items: Type.Optional(
      Type.Array(Type.Object({ index: Type.Integer(), issues: Type.Array(FieldIssue) }), {
        description: 'Each rejected batch item by its position (400 on a batch)',
      }),
    ),
    known: Type.Optional(Type.Array(Type.String(), { description: 'The known names (404)' })),
    queues: Type.Optional(Type.Array(Type.String(), { description: 'The queues holding the same scheduler id (409)' })),
  },
  { description: 'An error' },
);
export type ErrorBody = Static<typeof ErrorBody>;
export type ErrorDetails = Omit<ErrorBody, 'code' | 'message'>;

/** Error responses of every route; a schema here also keeps serialisation to the declared fields. */
export const errorResponses = { '4xx': ErrorBody, '5xx': ErrorBody } as const;

/** The one error class: answered as-is, its status from its code, its message safe to show. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly statusCode: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.statusCode = ERROR_CODES[code];
  }

  get body(): ErrorBody {
    return { code: this.code, message: this.message, ...this.details };
  }
}

/** The rejected items of a batch, each by its position, with its bad fields. */
export type ItemIssues = NonNullable<ErrorBody['items']>;

/**
 * The one `INVALID_BODY` (400): the message, then what was wrong, if known: the bad fields (the
 * first also as `field`), or the rejected items of a batch (the first one's first field as
 * `field`). Every app builds its 400s on the body through this (an ESLint rule keeps it so).
 */
export function invalidBody(message: string, found?: readonly FieldIssue[] | { items: ItemIssues }): HttpError {
  if (found === undefined) return new HttpError('INVALID_BODY', message);
  if ('items' in found) return new HttpError('INVALID_BODY', message, { field: found.items[0]?.issues[0]?.field, items: found.items });
  return new HttpError('INVALID_BODY', message, { field: found[0]?.field, issues: [...found] });
}

/** `<what>: <each issue's message>; …`, the message of a 400 listing its issues. */
export const issuesMessage = (what: string, issues: readonly FieldIssue[]): string =>
  `${what}: ${issues.map((issue) => issue.message).join('; ')}`;

/**
 * Answers `error` from a hook or a handler that replies itself (rather than throwing to the error
 * handler): its status from its code, its body in the one error shape. Returns the reply, which an
 * async hook returns.
 */
export function sendError(reply: FastifyReply, error: HttpError): FastifyReply {
  return reply.code(error.statusCode).send(error.body);
}

/** A 400 naming its field: `INVALID_BODY` for body fields, `INVALID_REQUEST` for the path and query. */
export function badRequest(part: 'body' | 'request', field: string, message: string): HttpError {
  const issues = [{ field, message }];
  return part === 'body' ? invalidBody(message, issues) : new HttpError('INVALID_REQUEST', message, { field, issues });
}

/** Redis cannot be reached or answered too late. */
export function queueUnavailable(message = 'Redis cannot be reached right now; try again shortly'): HttpError {
  return new HttpError('QUEUE_UNAVAILABLE', message);
}
