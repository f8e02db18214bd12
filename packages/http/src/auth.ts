import { hash, timingSafeEqual } from 'node:crypto';
import { AuthFailureLimiter, DEFAULT_TENANT, TOKEN_SCOPES, type Principal, type TokenScope } from '@ceres/app-kit';
import type { FastifyContextConfig, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { definePlugin } from './plugin';
import { HttpError, sendError } from './errors';

/** One-shot SHA-256 (no Hash object): this runs on every request. */
const digest = (value: string) => Buffer.from(hash('sha256', value), 'hex');

/**
 * The one constant-time comparison of a secret: `expected` is a digest made once with
 * {@link secretDigest}. Both sides are 32-byte SHA-256 digests, so neither the length nor a
 * matching prefix of the secret shows in the time taken.
 */
export function safeEqual(presented: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(presented), expected);
}

/** The digest {@link safeEqual} compares against; compute it once at startup. */
export const secretDigest = (secret: string): Buffer => digest(secret);

export interface AuthFailureOptions {
  /** Wrong credentials per client address and window before it is refused with 429 until the window ends. */
  max: number;
  windowMs: number;
}

const throttled = (max: number, seconds: number) =>
  new HttpError('RATE_LIMITED', `too many failed authentications from this address (${max}); retry in ${seconds} s`);

/**
 * The failed-login gate both plugins share: an address over the limit is refused (right
 * credentials included, so guessing on learns nothing); a request without any credentials is a
 * browser or a probe, not a guess, and does not count.
 */
type Checked = boolean | HttpError;

function guard(
  failures: AuthFailureOptions,
  check: (request: FastifyRequest, config: FastifyContextConfig | undefined) => Checked | Promise<Checked>,
  refuse: (reply: FastifyReply) => HttpError,
) {
  const limiter = new AuthFailureLimiter(failures);
  // Answered from the hook rather than thrown: routes that plugins add with an error handler of
  // their own (Bull Board's) would turn a thrown 401 into a 500. Callback style: this runs on every
  // request, and an async hook costs a promise each time.
  const answer = (reply: FastifyReply, error: HttpError) => {
    sendError(reply, error);
  };
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    // Read once: `routeOptions` builds a new object at every read.
    const config = request.routeOptions.config;
    if (config?.public === true) return done();
    const wait = limiter.retryAfterSeconds(request.ip);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      return answer(reply, throttled(limiter.max, wait));
    }
    const settle = (checked: Checked) => {
      if (checked === true) return done();
      // The credentials could not be checked right now, or a valid token lacks the route's scope
      // (not a wrong guess either way): answered, not counted.
      if (checked instanceof HttpError) return answer(reply, checked);
      if (request.headers.authorization !== undefined) limiter.fail(request.ip);
      return answer(reply, refuse(reply));
    };
    const checked = check(request, config);
    // Only a check that has to wait (a password hash to verify) costs a promise.
    if (checked instanceof Promise) return void checked.then(settle, done);
    return settle(checked);
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request: `token:<n>` with bearer auth on, the client IP with it off. Rate limits key on it. */
    apiClient: string;
    /**
     * The tenant (municipality) the request acts for: the tenant of its token (`default` for the
     * `API_TOKENS` ones and with bearer auth off). Empty on public routes, which have no token.
     */
    tenant: string;
    /**
     * What the request's token may call (see {@link FastifyContextConfig.tokenScope}): a tenant
     * token's scopes; every scope for the `API_TOKENS` ones and with bearer auth off. Not set
     * (null) on public routes, which have no token.
     */
    tokenScopes: ReadonlySet<TokenScope>;
  }
  interface FastifyContextConfig {
    /**
     * The token scope a route behind bearer auth needs: a token without it is answered
     * 403 SCOPE_REQUIRED naming it (checked by the auth hook, on the token's resolved scopes).
     * Unset: any valid token.
     */
    tokenScope?: TokenScope;
  }
}

/** The scopes of the `API_TOKENS` tokens and of every request with bearer auth off: all of them. */
export const ALL_TOKEN_SCOPES: ReadonlySet<TokenScope> = new Set(TOKEN_SCOPES);

/** The 403 of a route outside the token's scopes: the scope it needs, the ones the token has, how to get one. */
export function scopeRequired(needed: TokenScope, has: ReadonlySet<TokenScope>, tenant: string): HttpError {
  const held = has.size === 0 ? 'none' : [...has].join(', ');
  return new HttpError(
    'SCOPE_REQUIRED',
    `this route needs a token with the "${needed}" scope (this token's scopes: ${held}); an admin creates one with \`ceres-jobs tokens create --tenant ${tenant} --scope ${needed}\``,
  );
}

/**
 * Returns the position of the token an `Authorization` header carries, or -1. Every configured
 * token is compared (with {@link safeEqual}), so the time does not tell which one matched.
 */
export function tokenMatcher(tokens: readonly string[]): (header: string | undefined) => number {
  const digests = tokens.map(secretDigest);
  return (header) => {
    if (header === undefined || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return -1;
    const presented = header.slice(7).trim();
    let match = -1;
    for (let i = 0; i < digests.length; i++) {
      if (safeEqual(presented, digests[i]!) && match === -1) match = i;
    }
    return match;
  };
}

/** Who a token that is not one of the static `tokens` belongs to (see {@link BearerAuthOptions.resolve}). */
export interface ResolvedToken {
  /** What `request.apiClient` becomes (rate limits key on it); never the token. */
  client: string;
  tenant: string;
  /** What the token may call; `request.tokenScopes` becomes it (hold one Set per token, made when it is read, not per request). */
  scopes: ReadonlySet<TokenScope>;
}

export interface BearerAuthOptions {
  /** False runs without authentication (`apiClient` is then the client IP, `tenant` is `default`). */
  enabled: boolean;
  /** The static tokens, all of the `default` tenant; compared in constant time. */
  tokens: readonly string[];
  failures: AuthFailureOptions;
  /**
   * Tokens known elsewhere (the tenants' tokens): asked about a presented token that matches none of
   * `tokens`. Returns its owner, undefined for an unknown token (401), or an {@link HttpError} when it
   * cannot tell right now (answered as it is, not counted as a failed authentication).
   */
  resolve?: (presented: string) => ResolvedToken | HttpError | undefined;
}

/** The token of a `Bearer` Authorization header, or undefined. */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const presented = header.slice(7).trim();
  return presented === '' ? undefined : presented;
}

/**
 * `Authorization: Bearer <token>` on every route of the scope it is registered in (routes with
 * `config.public` excepted). Every configured token is compared on every request, so the time
 * does not tell which one matched; a token none of them is, is then asked of `resolve`. Sets
 * `request.apiClient`, `request.tenant` and `request.tokenScopes`; a route's `config.tokenScope`
 * that the token lacks is answered 403 SCOPE_REQUIRED (the `API_TOKENS` tokens have every scope).
 */
export const bearerAuthPlugin = definePlugin<BearerAuthOptions>(
  { name: '@ceres/http/bearer-auth', dependencies: [] },
  async (scope, { enabled, tokens, failures, resolve }) => {
    scope.decorateRequest('apiClient', '');
    scope.decorateRequest('tenant', '');
    // Null until the auth hook sets it (Fastify refuses an object as a decorator's initial value).
    scope.decorateRequest('tokenScopes', null as unknown as ReadonlySet<TokenScope>);
    if (!enabled) {
      scope.addHook('onRequest', (request, _reply, done) => {
        request.apiClient = request.ip;
        request.tenant = DEFAULT_TENANT;
        request.tokenScopes = ALL_TOKEN_SCOPES;
        done();
      });
      return;
    }
    const matching = tokenMatcher(tokens);
    const clients = tokens.map((_, i) => `token:${i + 1}`);
    const check = (request: FastifyRequest, config: FastifyContextConfig | undefined): boolean | HttpError => {
      const index = matching(request.headers.authorization);
      if (index !== -1) {
        request.apiClient = clients[index]!;
        request.tenant = DEFAULT_TENANT;
        request.tokenScopes = ALL_TOKEN_SCOPES;
        return true;
      }
      const presented = resolve && bearerToken(request.headers.authorization);
      if (!presented) return false;
      const owner = resolve(presented);
      if (owner === undefined || owner instanceof HttpError) return owner ?? false;
      request.apiClient = owner.client;
      request.tenant = owner.tenant;
      request.tokenScopes = owner.scopes;
      // A valid token outside the route's scopes: answered, not counted as a failed authentication.
      const needed = config?.tokenScope;
      return needed === undefined || owner.scopes.has(needed) ? true : scopeRequired(needed, owner.scopes, owner.tenant);
    };
    scope.addHook(
      'onRequest',
      guard(failures, check, () => new HttpError('UNAUTHORIZED', 'missing or invalid bearer token: send "Authorization: Bearer <token>"')),
    );
  },
);

/** The user and password of a `Basic` Authorization header, or undefined when it is none. */
export function basicCredentials(header: string | undefined): { user: string; pass: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}

/** What {@link BasicAuthOptions.resolve} answers: the principal, none (401), or an error to answer as it is (not counted). */
export type ResolvedPrincipal = Principal | HttpError | undefined;

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request (basic auth): the bootstrap admin or an operator account, with its role and tenant. */
    principal: Principal;
  }
}

export interface BasicAuthOptions {
  /** The bootstrap admin (`bootstrap:<user>`, role `admin`, every tenant). */
  user: string;
  pass: string;
  /** Shown by browsers in the login prompt. @defaultValue `ceres` */
  realm?: string;
  failures: AuthFailureOptions;
  /**
   * Accounts known elsewhere (operator accounts): asked about credentials that are not the
   * bootstrap admin's. `header` is the whole Authorization header (a cache key).
   */
  resolve?: (credentials: { user: string; pass: string }, header: string) => ResolvedPrincipal | Promise<ResolvedPrincipal>;
}

/**
 * The principal of an Authorization header as {@link basicAuthPlugin} sees it: the bootstrap admin
 * (user and password both compared, always, in constant time), else what `resolve` answers.
 * Exported so that code outside Fastify's request (Bull Board's handler hooks) identifies the
 * caller the same way.
 */
export function basicPrincipals({ user, pass, resolve }: Pick<BasicAuthOptions, 'user' | 'pass' | 'resolve'>) {
  const expectedUser = secretDigest(user);
  const expectedPass = secretDigest(pass);
  const bootstrap: Principal = { actor: `bootstrap:${user}`, role: 'admin', tenant: null };
  return (header: string | undefined): ResolvedPrincipal | Promise<ResolvedPrincipal> => {
    const credentials = basicCredentials(header);
    const userOk = safeEqual(credentials?.user ?? '', expectedUser);
    const passOk = safeEqual(credentials?.pass ?? '', expectedPass);
    if (credentials === undefined) return undefined;
    if (userOk && passOk) return bootstrap;
    return resolve?.(credentials, header!);
  };
}

/**
 * HTTP basic auth on every route of the instance, including those plugins add later and unknown
 * URLs (routes with `config.public` excepted): the bootstrap admin, and the accounts `resolve`
 * knows. The bootstrap user and password are both compared, always, so a wrong user costs the same
 * time as a wrong password. Sets `request.principal`.
 */
export const basicAuthPlugin = definePlugin<BasicAuthOptions>(
  { name: '@ceres/http/basic-auth', dependencies: [] },
  async (app, options) => {
    app.decorateRequest('principal', null as unknown as Principal);
    const principalOf = basicPrincipals(options);
    const challenge = `Basic realm="${options.realm ?? 'ceres'}", charset="UTF-8"`;
    const settle = (request: FastifyRequest, resolved: ResolvedPrincipal): Checked => {
      if (resolved === undefined || resolved instanceof HttpError) return resolved ?? false;
      request.principal = resolved;
      return true;
    };
    const check = (request: FastifyRequest): Checked | Promise<Checked> => {
      const resolved = principalOf(request.headers.authorization);
      return resolved instanceof Promise ? resolved.then((found) => settle(request, found)) : settle(request, resolved);
    };
    app.addHook(
      'onRequest',
      guard(options.failures, check, (reply) => {
        reply.header('www-authenticate', challenge);
        return new HttpError('UNAUTHORIZED', 'valid basic-auth credentials are required');
      }),
    );
  },
);
