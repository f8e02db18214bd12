import type { BoardHooks, HookContext } from '@bull-board/api/typings/app';
import { roleAllows, roleRefusal, type Action, type Principal } from '@ceres/app-kit';
import { AuditUnavailableError, type AuditEntry, type AuditLog } from '@ceres/db';
import { HttpError, type ResolvedPrincipal } from '@ceres/http';

/**
 * Every state-changing route of Bull Board 9's API (its route template, relative to the board, and
 * method) and the action it is. Its GET routes are reads (viewer). A state-changing route missing
 * here (a newer Bull Board) is refused to everyone until it is added.
 */
export const BOARD_ACTIONS: Readonly<Record<string, Action>> = {
  'put /api/queues/pause': 'queue.pause',
  'put /api/queues/resume': 'queue.resume',
  'post /api/queues/:queueName/add': 'job.add',
  'put /api/queues/:queueName/retry/:queueStatus': 'job.retry',
  'put /api/queues/:queueName/promote': 'job.promote',
  'put /api/queues/:queueName/clean/:queueStatus': 'queue.clean',
  'put /api/queues/:queueName/pause': 'queue.pause',
  'put /api/queues/:queueName/resume': 'queue.resume',
  'put /api/queues/:queueName/concurrency': 'queue.settings',
  'put /api/queues/:queueName/rate-limit': 'queue.settings',
  'put /api/queues/:queueName/rate-limit/release': 'queue.settings',
  'put /api/queues/:queueName/empty': 'queue.drain',
  'put /api/queues/:queueName/obliterate': 'queue.obliterate',
  'put /api/queues/:queueName/job-schedulers/:schedulerId/remove': 'scheduler.change',
  'patch /api/queues/:queueName/job-schedulers/:schedulerId': 'scheduler.change',
  'put /api/queues/:queueName/job-schedulers/:schedulerId/run': 'scheduler.run',
  'put /api/queues/:queueName/:jobId/retry': 'job.retry',
  'put /api/queues/:queueName/:jobId/clean': 'job.remove',
  'put /api/queues/:queueName/:jobId/promote': 'job.promote',
  'patch /api/queues/:queueName/:jobId/update-data': 'job.update',
  'patch /api/queues/:queueName/:jobId/delay': 'job.update',
  'patch /api/queues/:queueName/:jobId/priority': 'job.update',
  'put /api/queues/:queueName/:jobId/remove-unprocessed-children': 'job.remove',
  'post /api/metrics/history/purge': 'queue.settings',
};

/** What a board route is: `read`, its action, or `unknown` (state-changing and not in {@link BOARD_ACTIONS}). */
export function boardAction(method: string, route: string): Action | 'read' | 'unknown' {
  const verb = method.toLowerCase();
  if (verb === 'get' || verb === 'head') return 'read';
  return BOARD_ACTIONS[`${verb} ${route}`] ?? 'unknown';
}

/** The route parameters an audit row names (ids only). */
const TARGET_PARAMS = ['queueName', 'jobId', 'queueStatus', 'schedulerId'] as const;

export interface BoardAccessOptions {
  /** The principal of an Authorization header: the same resolver (and cache) as the basic auth. */
  principalOf: (header: string | undefined) => ResolvedPrincipal | Promise<ResolvedPrincipal>;
  /** The audit trail; undefined without DATABASE_URL (actions then go unrecorded). */
  audit: AuditLog | undefined;
  log?: { warn(fields: object, message: string): void };
}

/** A refusal in Bull Board's error envelope; the app answers it in its own shape (see board.ts). */
const refuse = (error: HttpError) => ({
  allow: false,
  // Bull Board's typings list the statuses its own handlers answer; 503 is passed through as well.
  status: error.statusCode as 403,
  errorKey: error.code as 'ERRORS.FORBIDDEN',
  message: error.message,
});

/**
 * Bull Board's handler hooks (`handlerHooks` of `createBullBoard`), which run around each of its API
 * handlers, with the request's headers:
 * - `before`: who calls (from the Authorization header, through the basic auth's own resolver);
 *   a tenant-scoped account is refused the whole board; a role that lacks the route's action is
 *   refused 403 ROLE_REQUIRED naming the role needed; an action is only done when the audit trail
 *   can be written (503 AUDIT_UNAVAILABLE otherwise).
 * - `after`: appends the action's audit row with its outcome; on the queue listing, marks every
 *   queue read-only for a viewer, so the page shows no action buttons.
 *
 * An action whose handler throws (Redis down) never reaches `after`: {@link BoardAccess.settle}
 * records it (`error: <status>`) when its answer has gone out.
 */
export class BoardAccess {
  /** The audit row waiting for its outcome, by the request's headers object (one per request). */
  private readonly pending = new WeakMap<object, Omit<AuditEntry, 'outcome'>>();
  /** The client address of each request, by its headers object (the hooks get the headers, not the address). */
  private readonly clients = new WeakMap<object, string>();

  constructor(private readonly options: BoardAccessOptions) {}

  private async principal(headers: Record<string, unknown>): Promise<Principal | undefined> {
    const authorization = headers.authorization;
    const resolved = await this.options.principalOf(typeof authorization === 'string' ? authorization : undefined);
    return resolved instanceof HttpError ? undefined : resolved;
  }

  readonly hooks: BoardHooks = {
    before: async ({ method, route, request }: HookContext) => {
      const principal = await this.principal(request.headers ?? {});
      // The basic auth let the request in; no principal now means the account changed meanwhile.
      if (!principal) return refuse(new HttpError('UNAUTHORIZED', 'valid basic-auth credentials are required'));
      if (principal.tenant !== null) return refuse(boardTenantRefusal(principal.tenant));
      const action = boardAction(method, route);
      if (action === 'unknown') {
        return refuse(
          new HttpError(
            'ROLE_REQUIRED',
            `${method.toUpperCase()} ${route} is not in this app's table of Bull Board actions: refused to every role`,
          ),
        );
      }
      if (!roleAllows(principal.role, action)) return refuse(new HttpError('ROLE_REQUIRED', roleRefusal(action, principal.role)));
      if (action === 'read' || !this.options.audit) return;
      try {
        await this.options.audit.ping();
      } catch (cause) {
        return refuse(new HttpError('AUDIT_UNAVAILABLE', new AuditUnavailableError({ cause }).message));
      }
      const routeParams = (request.params ?? {}) as Record<string, string | undefined>;
      const target = Object.fromEntries(
        TARGET_PARAMS.filter((name) => routeParams[name] !== undefined).map((name) => [name, routeParams[name]!]),
      );
      const params = boardParams(request.body);
      this.pending.set(request.headers ?? {}, {
        actor: principal.actor,
        role: principal.role,
        tenant: null,
        action,
        target,
        params,
        clientAddress: this.clients.get(request.headers ?? {}) ?? null,
      });
      return;
    },
    after: async ({ method, route, request }: HookContext, result) => {
      const entry = this.pending.get(request.headers ?? {});
      if (entry) {
        this.pending.delete(request.headers ?? {});
        const status = result.status ?? 200;
        await this.append({ ...entry, outcome: status < 400 ? 'ok' : `error: ${status}` });
      }
      if (method.toLowerCase() === 'get' && route === '/api/queues') {
        const principal = await this.principal(request.headers ?? {});
        if (principal && !roleAllows(principal.role, 'job.retry')) return readOnlyListing(result);
      }
      return result;
    },
  };

  /** Notes the request's client address (Fastify's `request.ip`) for its audit row; called before the handler. */
  noteClient(headers: object, address: string): void {
    this.clients.set(headers, address);
  }

  /**
   * Records an action still pending once its answer went out: its handler threw (Redis down), so
   * its `after` never ran. Called when the response is sent.
   */
  async settle(headers: object, statusCode: number): Promise<void> {
    const entry = this.pending.get(headers);
    if (!entry) return;
    this.pending.delete(headers);
    await this.append({ ...entry, outcome: `error: ${statusCode}` }).catch(() => {});
  }

  private async append(entry: AuditEntry): Promise<void> {
    try {
      await this.options.audit!.append(entry);
    } catch (error) {
      // The action is done; its row could not be written (PostgreSQL went away after the check).
      this.options.log?.warn({ err: error, action: entry.action }, 'a Bull Board action could not be recorded in the audit trail');
      throw new HttpError('AUDIT_UNAVAILABLE', 'the action was done but its audit row could not be written (PostgreSQL is unreachable)');
    }
  }
}

/**
 * The parameters of a board action fit for the audit trail: numbers and booleans (concurrency,
 * delay, priority, force…) and the job type's `name`; anything else (job data, options) as `***`,
 * as it may hold personal data.
 */
export function boardParams(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return {};
  return Object.fromEntries(
    Object.entries(body as Record<string, unknown>).map(([key, value]) => [
      key,
      typeof value === 'number' || typeof value === 'boolean' || (key === 'name' && typeof value === 'string') ? value : '***',
    ]),
  );
}

/** Bull Board shows every tenant's jobs and cannot filter within a queue. */
export const boardTenantRefusal = (tenant: string) =>
  new HttpError(
    'TENANT_SCOPED_ACCOUNT',
    `Bull Board shows every tenant's jobs and this account is scoped to tenant ${tenant}: use the admin API instead (GET /api/queues/<queue>/jobs?state=failed, POST /api/queues/<queue>/retry), which answers that tenant's jobs only`,
  );

/** The queue listing with every queue read-only: Bull Board then shows no retry, promote, clean, pause or remove button. */
function readOnlyListing<T extends { body?: unknown }>(result: T): T {
  const body = result.body as { queues?: Array<Record<string, unknown>> } | undefined;
  if (!body?.queues) return result;
  return {
    ...result,
    body: {
      ...body,
      queues: body.queues.map((queue) => ({ ...queue, readOnlyMode: true, allowRetries: false, allowCompletedRetries: false })),
    },
  };
}
