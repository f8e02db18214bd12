import { definePlugin } from '@ceres/http';
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Graceful hand-over for `pm2 reload` in cluster mode. Closing the server at once also closes
     * its idle keep-alive connections, and a client that sent a request on one of them at that
     * instant sees ECONNRESET. So a stopping instance first drains: it keeps serving, answers every
     * request with `Connection: close` so each client leaves after its next response, and only
     * closes once its connections are gone or `maxMs` has passed.
     */
    drain(maxMs: number): Promise<void>;
  }
}

/**
 * `app.drain(maxMs)` (see above), and the sweep of connections that went idle while the server
 * closes: Fastify closes idle keep-alive connections once, when close() starts; a connection whose
 * request was in flight then goes idle after its response and would hold close() open for the
 * keep-alive timeout (5 s + 1 s); sweeping idle connections until the server is closed ends it at once.
 */
export const drainPlugin = definePlugin({ name: '@ceres/api/drain', dependencies: [] }, async (app) => {
  app.decorate('drain', async (maxMs: number) => {
    // Listening only from here on keeps the normal path free of a per-request hook; prepended,
    // so the header is set before Fastify can answer. Node closes the connection after a
    // response that carries it.
    app.server.prependListener('request', (_request, response) => response.setHeader('connection', 'close'));
    const deadline = Date.now() + maxMs;
    while (Date.now() < deadline && (await openConnections(app)) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    sweeper = setInterval(() => app.server.closeIdleConnections(), 25);
  });
  app.addHook('onClose', async () => {
    clearInterval(sweeper);
  });
});

function openConnections(app: FastifyInstance): Promise<number> {
  return new Promise((resolve) => app.server.getConnections((error, count) => resolve(error ? 0 : count)));
}
