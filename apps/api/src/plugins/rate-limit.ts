import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '@ceres/http';

/**
 * Limits every route of `scope` to `max` requests a minute per client (`request.apiClient`, so per
 * token). Counters live in this process: with N PM2 instances a client may make up to N × max.
 * Register after `bearerAuthPlugin` (unauthenticated requests are refused before they count) and before
 * the routes are registered.
 */
export function addRateLimit(scope: FastifyInstance, max: number): void {
  scope.register(rateLimit, {
    max,
    timeWindow: 60_000,
    keyGenerator: (request) => request.apiClient,
    // Only a refused request gets the rate headers; accepted ones stay lean.
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    errorResponseBuilder: (_request, context) =>
      new HttpError('RATE_LIMITED', `rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`),
  });
}
