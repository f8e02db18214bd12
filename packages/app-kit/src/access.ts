/**
 * Who may do what (issue 27): the roles of operator accounts, the actions they guard, the scopes
 * of API tokens. One table here; the admin API, Bull Board's hooks and the CLI all read it.
 */

/** Operator roles, weakest first: each role may do what the ones before it may. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What an API token may call; a token has one or more. */
export const TOKEN_SCOPES = ['enqueue', 'campaigns'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
/** The scopes of a token created without `--scope`. */
export const DEFAULT_TOKEN_SCOPES: readonly TokenScope[] = ['enqueue'];

/**
 * Every mutating operator action and the weakest role allowed to do it. Reading (the admin API's
 * GET routes, Bull Board's views, `/metrics`, the CLI's listings) needs `viewer`.
 */
export const ACTIONS = {
  'job.retry': 'operator',
  'job.promote': 'operator',
  'queue.pause': 'operator',
  'queue.resume': 'operator',
  'scheduler.run': 'operator',
  'archive.replay': 'operator',
  'job.add': 'admin',
  'job.update': 'admin',
  'job.remove': 'admin',
  'queue.clean': 'admin',
  'queue.drain': 'admin',
  'queue.obliterate': 'admin',
  'queue.settings': 'admin',
  'scheduler.change': 'admin',
  'archive.flush': 'admin',
  'archive.forget': 'admin',
  erasure: 'admin',
  'tenant.change': 'admin',
  'token.change': 'admin',
  'user.change': 'admin',
  // Not changes, but reads (see READ_ACTIONS): the audit trail (GET /api/audit, `ceres-jobs
  // audit`) and the accounts (`ceres-jobs users list`), admin only; the job search over the job
  // ledger (GET /api/jobs/search, `ceres-jobs jobs search`), any role.
  'audit.read': 'admin',
  'user.read': 'admin',
  'jobs.search': 'viewer',
} as const satisfies Record<string, Role>;
export type Action = keyof typeof ACTIONS;

/** The actions of {@link ACTIONS} that change nothing: checked against the role, never recorded. */
export const READ_ACTIONS: ReadonlySet<Action> = new Set(['audit.read', 'user.read', 'jobs.search']);

/** Whoever acts: an operator account, an API token, the CLI's OS user or the bootstrap admin. */
export interface Principal {
  /** `account:<name>`, `token:<id>`, `os:<user>` or `bootstrap:<user>`: what the audit trail names. */
  actor: string;
  role: Role;
  /** The one tenant this principal sees and acts on; null for all of them. */
  tenant: string | null;
}

const rank = (role: Role) => ROLES.indexOf(role);

/** Whether `role` may do `action` (`'read'`: look at anything). */
export function roleAllows(role: Role, action: Action | 'read'): boolean {
  return rank(role) >= rank(action === 'read' ? 'viewer' : ACTIONS[action]);
}

/** The weakest role allowed to do `action`. */
export const roleNeeded = (action: Action | 'read'): Role => (action === 'read' ? 'viewer' : ACTIONS[action]);

/** The message of a refused action: the role it needs, the one the caller has. */
export const roleRefusal = (action: Action | 'read', role: Role): string =>
  `${action === 'read' ? 'reading' : action} needs the ${roleNeeded(action)} role (this account is ${role})`;

/** Lowercase letters, digits, `.`, `_`, `-`; starts with a letter or digit; 1 to 40 characters. */
export const ACCOUNT_NAME = /^[a-z0-9][a-z0-9._-]{0,39}$/;

export const isRole = (value: unknown): value is Role => typeof value === 'string' && (ROLES as readonly string[]).includes(value);
export const isTokenScope = (value: unknown): value is TokenScope =>
  typeof value === 'string' && (TOKEN_SCOPES as readonly string[]).includes(value);
