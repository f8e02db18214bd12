import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthFailureLimiter } from '@ceres/app-kit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without credentials. Only `GET /health` sets it. @defaultValue `false` */
    public?: boolean;
  }
}

export interface BasicAuthOptions {
  user: string;
  pass: string;
  /** Shown by browsers in the login prompt. @defaultValue `ceres-queues` */
  realm?: string;
  /** Wrong credentials per client address and window before it is refused with 429. */
  failures: { max: number; windowMs: number };
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Guards every route of the instance, including those plugins add later (Bull Board's page,
 * static files and API) and unknown URLs, except routes with `config.public`. Installed as a
 * hook on the root instance so no route can escape it.
 *
 * An address that sent wrong credentials `failures.max` times in the window is answered 429 with
 * `Retry-After` until its window ends.
 *
 * Both the user and the password are compared as SHA-256 digests with `timingSafeEqual`: equal
 * lengths whatever was sent, so the time taken reveals neither the lengths nor a matching prefix.
 */
export function installBasicAuth(app: FastifyInstance, options: BasicAuthOptions): void {
  const expectedUser = digest(options.user);
  const expectedPass = digest(options.pass);
  const challenge = `Basic realm="${options.realm ?? 'ceres-queues'}", charset="UTF-8"`;

  const authorized = (header: string | undefined): boolean => {
    const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '');
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const user = colon === -1 ? '' : decoded.slice(0, colon);
    const pass = colon === -1 ? '' : decoded.slice(colon + 1);
    // Both comparisons always run, so a wrong user costs the same time as a wrong password.
    const userOk = timingSafeEqual(digest(user), expectedUser);
    const passOk = timingSafeEqual(digest(pass), expectedPass);
    return match !== null && colon !== -1 && userOk && passOk;
  };

  const limiter = new AuthFailureLimiter(options.failures);

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config?.public === true) return;
    // Refused whatever it sends, right credentials included, so guessing on learns nothing.
    const wait = limiter.retryAfterSeconds(request.ip);
    if (wait > 0) {
      return reply.code(429).header('retry-after', String(wait)).send({
        code: 'TOO_MANY_FAILED_LOGINS',
        message: `too many wrong credentials from this address (${limiter.max}); retry in ${wait} s`,
      });
    }
    if (authorized(request.headers.authorization)) return;
    // No credentials at all is a browser's first request before its login prompt, not a guess.
    if (request.headers.authorization !== undefined) limiter.fail(request.ip);
    return reply
      .code(401)
      .header('WWW-Authenticate', challenge)
      .send({ code: 'UNAUTHORIZED', message: 'valid basic-auth credentials are required' });
  });
}
