import { roleAllows, roleRefusal, type Action, type Principal } from '@ceres/app-kit';
import { AuditUnavailableError, audited, type AuditLog } from '@ceres/db';
import { definePlugin, HttpError, sendError } from '@ceres/http';
import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * What the route does, as the role table of @ceres/app-kit names it: `read` (viewer), or the
     * mutating {@link Action} (its weakest role). Declared on every admin-API route.
     */
    access?: Action | 'read';
    /**
     * What a tenant-scoped account gets: `own` — the route answers that tenant's jobs only (the
     * handler reads `request.principal.tenant`); absent — refused (403 TENANT_SCOPED_ACCOUNT), the
     * route acting on or showing every tenant's jobs.
     */
    tenants?: 'own';
  }
}

/** The refusal of a tenant-scoped account on a route that shows or changes every tenant's jobs. */
export const tenantScopedRefusal = (what: string, tenant: string) =>
  new HttpError(
    'TENANT_SCOPED_ACCOUNT',
    `${what} shows or changes every tenant's jobs; this account is scoped to tenant ${tenant}: use the admin API's routes for one tenant's jobs (/api/queues/…/jobs, /api/queues/…/stats, /api/queues/…/retry)`,
  );

/**
 * The role each admin-API route needs, read from its own declaration (`config.access`): a principal
 * whose role lacks it is refused with 403 ROLE_REQUIRED naming the role needed; a tenant-scoped
 * account on a route not declared `tenants: 'own'` with 403 TENANT_SCOPED_ACCOUNT. Right after the
 * credentials, before anything else is revealed. Bull Board's routes declare nothing: its handler
 * hooks check them (board-access.ts).
 */
export const routeAccessPlugin = definePlugin(
  { name: '@ceres/queues-ui/route-access', dependencies: ['@ceres/http/basic-auth'] },
  async (app) => {
    app.addHook('onRequest', async (request, reply) => {
      const { access, tenants } = request.routeOptions.config ?? {};
      if (access === undefined) return;
      const principal = request.principal;
      if (!roleAllows(principal.role, access)) return sendError(reply, new HttpError('ROLE_REQUIRED', roleRefusal(access, principal.role)));
      if (principal.tenant !== null && tenants !== 'own') {
        return sendError(reply, tenantScopedRefusal(`${request.method} ${request.routeOptions.url}`, principal.tenant));
      }
    });
  },
);

/** The answer when the audit trail cannot be written: nothing was done. */
export const auditUnavailable = (message: string) => new HttpError('AUDIT_UNAVAILABLE', message);

const NO_DATABASE = 'DATABASE_URL is not set for queues-ui: there is no audit trail to read';

/** The audit trail of the app's actions; undefined without `DATABASE_URL` (actions then go unrecorded, see docs). */
export class ActionAudit {
  constructor(readonly log: AuditLog | undefined) {}

  /** The trail to read, or 503 AUDIT_UNAVAILABLE without one. */
  reader(): AuditLog {
    if (!this.log) throw auditUnavailable(NO_DATABASE);
    return this.log;
  }

  /**
   * Does `act` for `principal` only if the trail can be written, then appends one row with its
   * outcome (`audited` of @ceres/db): PostgreSQL unreachable → 503 AUDIT_UNAVAILABLE, nothing done.
   */
  async run<T>(
    who: { principal: Principal; ip: string | null },
    entry: { action: Action; tenant?: string | null; target?: Record<string, string | number | null>; params?: Record<string, unknown> },
    act: () => Promise<T>,
  ): Promise<T> {
    if (!this.log) return act();
    try {
      return await audited(
        this.log,
        {
          actor: who.principal.actor,
          role: who.principal.role,
          tenant: who.principal.tenant ?? entry.tenant ?? null,
          action: entry.action,
          target: entry.target,
          params: entry.params,
          clientAddress: who.ip,
        },
        act,
      );
    } catch (error) {
      if (error instanceof AuditUnavailableError) throw auditUnavailable(error.message);
      throw error;
    }
  }

  /** {@link run} for an admin-API request: the action is the route's own `config.access`. */
  forRequest<T>(
    request: FastifyRequest,
    entry: { tenant?: string | null; target?: Record<string, string | number | null>; params?: Record<string, unknown> },
    act: () => Promise<T>,
  ): Promise<T> {
    const action = request.routeOptions.config.access;
    if (action === undefined || action === 'read') throw new Error(`${request.routeOptions.url} declares no action to audit`);
    return this.run({ principal: request.principal, ip: request.ip }, { ...entry, action }, act);
  }
}
