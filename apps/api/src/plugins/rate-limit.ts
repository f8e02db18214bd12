import rateLimit from '@fastify/rate-limit';
import { definePlugin, HttpError } from '@ceres/http';

/**
 * Limits every route of the scope it is registered in to `max` requests a minute per client
 * (`request.apiClient`, so per token). Counters live in this process: with N PM2 instances a client
 * may make up to N × max. After `bearerAuthPlugin` (unauthenticated requests are refused before
 * they count; Fastify checks it) and before the routes are registered.
 */
export const rateLimitPlugin = definePlugin<{ max: number }>(
  { name: '@ceres/api/rate-limit', dependencies: ['@ceres/http/bearer-auth'] },
  async (scope, { max }) => {
    await scope.register(rateLimit, {
      max,
      timeWindow: 60_000,
      keyGenerator: (request) => request.apiClient,
      // Only a refused request gets the rate headers; accepted ones stay lean.
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      errorResponseBuilder: (_request, context) =>
        new HttpError('RATE_LIMITED', `rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`),
    });
  },
);
