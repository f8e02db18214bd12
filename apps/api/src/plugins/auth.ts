import { hash, timingSafeEqual } from 'node:crypto';
import { AuthFailureLimiter } from '@ceres/app-kit';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { ApiError } from '../errors/api-error';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request: `token:<n>` with auth on, the client IP with auth off. Rate limits key on it. */
    apiClient: string;
  }
}

/** One-shot SHA-256 (no Hash object): this runs on every request. */
const digest = (value: string) => Buffer.from(hash('sha256', value), 'hex');

/**
 * Returns the position of the matching token, or -1. Both sides are hashed first, so every
 * comparison is between 32-byte buffers and neither a token's length nor a prefix leaks; every
 * token is compared, so the time does not tell which one matched.
 */
export function tokenMatcher(tokens: readonly string[]): (header: string | undefined) => number {
  const digests = tokens.map(digest);
  return (header) => {
    if (header === undefined || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return -1;
    const presented = digest(header.slice(7).trim());
    let match = -1;
    for (let i = 0; i < digests.length; i++) {
      if (timingSafeEqual(presented, digests[i]!) && match === -1) match = i;
    }
    return match;
  };
}

const unauthorized = () =>
  new ApiError('UNAUTHORIZED', 'missing or invalid bearer token: send "Authorization: Bearer <token>"');

const throttled = (max: number, seconds: number) =>
  new ApiError('RATE_LIMITED', `too many failed authentications from this address (${max}); retry in ${seconds} s`);

/**
 * Puts every route of `scope` behind `Authorization: Bearer <token>` (or records the IP when auth
 * is off). An address that sent `authFailures.max` wrong tokens in the window is answered 429
 * with `Retry-After`, whatever it sends, until its window ends.
 */
export function addAuth(
  scope: FastifyInstance,
  auth: { enabled: boolean; tokens: readonly string[] },
  authFailures: { max: number; windowMs: number },
): void {
  scope.decorateRequest('apiClient', '');
  if (!auth.enabled) {
    scope.addHook('onRequest', async (request: FastifyRequest) => {
      request.apiClient = request.ip;
    });
    return;
  }
  const match = tokenMatcher(auth.tokens);
  const clients = auth.tokens.map((_, i) => `token:${i + 1}`);
  // Callback style: this runs on every request, and an async hook costs a promise each time.
  const limiter = new AuthFailureLimiter(authFailures);
  scope.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const wait = limiter.retryAfterSeconds(request.ip);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      return done(throttled(limiter.max, wait));
    }
    const index = match(request.headers.authorization);
    if (index === -1) {
      // A request without any Authorization header is not a guess (a browser, a health probe).
      if (request.headers.authorization !== undefined) limiter.fail(request.ip);
      return done(unauthorized());
    }
    request.apiClient = clients[index]!;
    done();
  });
}
