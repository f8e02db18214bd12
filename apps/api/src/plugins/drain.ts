import type { FastifyInstance } from 'fastify';

/**
 * Graceful hand-over for `pm2 reload` in cluster mode. Closing the server at once also closes its
 * idle keep-alive connections, and a client that sent a request on one of them at that instant
 * sees ECONNRESET. So a stopping instance first drains: it keeps serving, answers every request
 * with `Connection: close` so each client leaves after its next response, and only closes once
 * its connections are gone or `maxMs` has passed.
 */
export function addDrain(app: FastifyInstance): { drain: (maxMs: number) => Promise<void> } {
  return {
    async drain(maxMs) {
      // Listening only from here on keeps the normal path free of a per-request hook; prepended,
      // so the header is set before Fastify can answer. Node closes the connection after a
      // response that carries it.
      app.server.prependListener('request', (_request, response) => response.setHeader('connection', 'close'));
      const deadline = Date.now() + maxMs;
      while (Date.now() < deadline && (await openConnections(app)) > 0) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

function openConnections(app: FastifyInstance): Promise<number> {
  return new Promise((resolve) => app.server.getConnections((error, count) => resolve(error ? 0 : count)));
}
