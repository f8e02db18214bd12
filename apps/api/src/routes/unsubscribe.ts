import { readUnsubscribeToken, unsubscribeSignature } from '@ceres/app-kit';
import type { Db } from '@ceres/db';
import { badRequest, errorResponses, HttpError, safeEqual, secretDigest } from '@ceres/http';
import type { Static } from '@sinclair/typebox';
import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync } from 'fastify';
import { withDatabase } from '../newsletter/database-errors';
import { Unsubscribed, UnsubscribeQuery } from '../schemas/campaigns';

export interface UnsubscribeRouteOptions {
  db: Pick<Db, 'newsletter'>;
  /** `UNSUBSCRIBE_SECRET`, newest first: the worker signs with the first; a link signed with any is accepted (rotation). */
  secrets: readonly string[];
  /** Requests per link (per client address for a malformed one) per minute (`API_UNSUBSCRIBE_RATE_LIMIT_MAX`). */
  rateLimitMax: number;
}

/** What RFC 8058 mail clients post ("List-Unsubscribe=One-Click"); the body says nothing the token does not. */
const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data'];

/**
 * `POST /unsubscribe?t=<token>`: the one-click opt-out of RFC 8058. No bearer token: the signed
 * token is the proof. Its signature is compared in constant time (`safeEqual`, the apps' one compare).
 */
export const unsubscribeRoutes: FastifyPluginAsync<UnsubscribeRouteOptions> = async (app, { db, secrets, rateLimitMax }) => {
  // Public route: without a limit one link drives unlimited anonymous queries. Counted per link
  // (its signed part: one recipient), not per address, since mail providers post the one-click
  // unsubscribes of many users from the same few addresses; a malformed token per address.
  await app.register(rateLimit, {
    max: rateLimitMax,
    timeWindow: 60_000,
    keyGenerator: (request) => {
      const t = (request.query as { t?: unknown } | undefined)?.t;
      const token = typeof t === 'string' ? readUnsubscribeToken(t) : undefined;
      return token ? `link:${token.signed}` : `address:${request.ip}`;
    },
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    errorResponseBuilder: (_request, context) =>
      new HttpError(
        'RATE_LIMITED',
        `rate limit of ${context.max} requests per minute for this unsubscribe link exceeded; retry in ${context.after}`,
      ),
  });
  app.addContentTypeParser(FORM_TYPES, { parseAs: 'string' }, (_request, _body, done) => done(null, {}));
  const invalid = () => badRequest('request', 't', 't: not a valid unsubscribe token (use the link of the mail as it is)');

  app.post<{ Querystring: Static<typeof UnsubscribeQuery> }>(
    '/unsubscribe',
    {
      config: { public: true },
      schema: {
        summary: 'One-click unsubscribe (RFC 8058)',
        description:
          "The URL of a newsletter's List-Unsubscribe header; mail clients POST `List-Unsubscribe=One-Click` to it. Records the opt-out of the recipient's address: later campaigns skip it. No bearer token: the signed token is the proof.",
        tags: ['newsletter'],
        querystring: UnsubscribeQuery,
        response: { 200: Unsubscribed, ...errorResponses },
      },
    },
    async (request) => {
      const token = readUnsubscribeToken(request.query.t);
      if (!token) throw invalid();
      // Every secret is tried, so how long the check takes does not tell which one signed it.
      const matches = secrets.map((secret) => safeEqual(token.signature, secretDigest(unsubscribeSignature(secret, token.signed))));
      if (!matches.includes(true)) throw invalid();
      const outcome = await withDatabase(() => db.newsletter.unsubscribe(token.campaignId, token.userId));
      if (outcome === 'unknown') throw new HttpError('NOT_FOUND', 'this unsubscribe link names no recipient of a campaign');
      request.log.info({ campaignId: token.campaignId, already: outcome === 'already' }, 'newsletter opt-out recorded');
      return { unsubscribed: true as const, already: outcome === 'already' };
    },
  );
};
