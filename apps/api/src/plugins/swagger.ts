import { definePlugin, openApiPlugin } from '@ceres/http';
import swaggerUi from '@fastify/swagger-ui';

/**
 * OpenAPI from the route schemas (@ceres/http's openApiPlugin, as queues-ui's): the UI at
 * `GET /docs`, the document at `GET /docs/json`. Public. Register before any route is added: the
 * document lists the routes registered after it.
 */
export const docsPlugin = definePlugin({ name: '@ceres/api/docs', dependencies: [] }, async (app) => {
  await app.register(openApiPlugin, {
    title: 'Ceres jobs API',
    description:
      'Enqueue background jobs and read their status. GET /health, GET /docs and POST /unsubscribe (its signed token is the credential) need no bearer token; every other route needs a bearer token.',
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // swagger-ui's own policy (hashes of its inline scripts), but never framed, styles and fonts
    // from this host only (the UI sets inline styles, which its style hashes do not cover), and
    // without upgrade-insecure-requests, which breaks the page on plain-HTTP 127.0.0.1.
    staticCSP: true,
    transformStaticCSP: (header) =>
      header
        .replace("frame-ancestors 'self'", "frame-ancestors 'none'")
        .replace(/style-src [^;]*;/, "style-src 'self' 'unsafe-inline';")
        .replace(/font-src [^;]*;/, "font-src 'self' data:;")
        .replace(/\s*upgrade-insecure-requests;?/, ''),
  });
});
