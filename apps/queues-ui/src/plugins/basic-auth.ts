import { createHash, timingSafeEqual } from 'node:crypto';
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
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Guards every route of the instance, including those plugins add later (Bull Board's page,
 * static files and API) and unknown URLs, except routes with `config.public`. Installed as a
 * hook on the root instance so no route can escape it.
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

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config?.public === true) return;
    if (authorized(request.headers.authorization)) return;
    return reply
      .code(401)
      .header('WWW-Authenticate', challenge)
      .send({ code: 'UNAUTHORIZED', message: 'valid basic-auth credentials are required' });
  });
}
