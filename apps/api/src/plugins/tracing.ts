import type { Tracing, TraceSpan } from '@ceres/app-kit';
import { definePlugin } from '@ceres/http';
import type { FastifyRequest } from 'fastify';

/**
 * One server span per request, registered only when tracing is on (main.ts). The span is active
 * for the rest of the request (the hooks, the body's reading, the handler), so the enqueue span of
 * `@ceres/queues` is its child. Its attributes are the route's template (`/jobs/:queue/:job`), the
 * method and the status: never the URL itself (job ids, unsubscribe tokens), a header or the body.
 */
export const tracingPlugin = definePlugin<{ tracing: Tracing }>(
  { name: '@ceres/api/tracing', dependencies: [] },
  async (app, { tracing }) => {
    const spans = new WeakMap<FastifyRequest, TraceSpan>();
    app.addHook('onRequest', (request, _reply, done) => {
      const route = request.routeOptions.url;
      const span = tracing.startSpan(route === undefined ? request.method : `${request.method} ${route}`, 'server', {
        'http.request.method': request.method,
        ...(route === undefined ? {} : { 'http.route': route }),
      });
      spans.set(request, span);
      // The body arrives in `data` events of the raw request: its listeners run with the span active.
      tracing.withSpan(span, [request.raw], done);
    });
    app.addHook('onResponse', (request, reply, done) => {
      const span = spans.get(request);
      if (span) {
        span.setAttribute('http.response.status_code', reply.statusCode);
        if (reply.statusCode >= 500) span.fail({ name: String(reply.statusCode) });
        span.end();
        spans.delete(request);
      }
      done();
    });
    app.addHook('onRequestAbort', (request, done) => {
      const span = spans.get(request);
      if (span) {
        span.setAttribute('ceres.request.aborted', true);
        span.end();
        spans.delete(request);
      }
      done();
    });
  },
);
