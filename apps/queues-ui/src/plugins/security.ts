import helmet from '@fastify/helmet';
import { definePlugin } from '@ceres/http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError, sendError } from '../errors';

/**
 * The page's policy: everything from this app only. Bull Board's markup and React set inline
 * `style` attributes, hence `'unsafe-inline'` for styles (never for scripts); its config is an
 * inline `application/json` block, which is data, not script.
 */
export const BOARD_CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  baseUri: ["'self'"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'", 'data:'],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  imgSrc: ["'self'", 'data:'],
  objectSrc: ["'none'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
};

/**
 * Security headers (@fastify/helmet) on every response, `Cache-Control: no-store` on everything
 * but the static assets (which @fastify/static serves with its own validators). First of all, so
 * every answer carries them, a refusal included.
 */
export const securityHeadersPlugin = definePlugin({ name: '@ceres/queues-ui/security-headers', dependencies: [] }, async (app) => {
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: BOARD_CSP_DIRECTIVES },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });
});

/** Bull Board's page links IBM Plex from Google Fonts; the page falls back to system fonts (its CSS lists them). */
const THIRD_PARTY_FONTS = /<link\b[^>]*\bhref="https:\/\/fonts\.(?:googleapis|gstatic)\.com\/[^"]*"[^>]*>\s*/g;

/** Strips the third-party font link from the board's HTML, so the page loads nothing from another host. */
export const localOnlyPagePlugin = definePlugin(
  { name: '@ceres/queues-ui/local-only-page', dependencies: ['@ceres/queues-ui/security-headers'] },
  async (app) => {
    app.addHook('onSend', async (_request, reply, payload) => {
      if (typeof payload !== 'string' || !String(reply.getHeader('content-type') ?? '').startsWith('text/html')) return payload;
      return payload.replace(THIRD_PARTY_FONTS, '');
    });
  },
);

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Whether a state-changing request may come from where it came from. Browsers send
 * `Sec-Fetch-Site` (and `Origin` on every cross-origin POST): a request from another origin,
 * another port on the same host included (`same-site`), is refused. A request carrying neither
 * header is not from a browser page (curl, scripts) and is let through to the basic auth it passed.
 */
export function isSameOriginRequest(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    // Behind a proxy the Host it forwards must be the public one (`proxy_set_header Host $http_host`).
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/**
 * Refuses cross-site POST/PUT/PATCH/DELETE on every route, Bull Board's own API included (403),
 * and any body that is not JSON (415): an HTML form can post `text/plain`, urlencoded or multipart,
 * but not `application/json` without CORS, which this app never grants. After the credentials are
 * checked (and the security headers set).
 */
export const crossSiteGuardPlugin = definePlugin(
  { name: '@ceres/queues-ui/cross-site-guard', dependencies: ['@ceres/queues-ui/security-headers', '@ceres/http/basic-auth'] },
  async (app) => {
    app.removeContentTypeParser('text/plain');
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!UNSAFE_METHODS.has(request.method)) return;
      if (isSameOriginRequest(request)) return;
      request.log.warn(
        { method: request.method, url: request.url.split('?')[0], site: request.headers['sec-fetch-site'] },
        'refused a cross-site request',
      );
      return sendError(
        reply,
        new HttpError('CROSS_SITE_REQUEST', 'state-changing requests must come from this app’s own pages (Sec-Fetch-Site / Origin)'),
      );
    });
  },
);
