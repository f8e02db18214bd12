import { definePlugin } from '@ceres/http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The API answers JSON, so its policy allows nothing to load (`default-src 'none'`) and no page to
 * frame it; `Cache-Control: no-store` keeps job states and errors out of shared caches.
 */
const OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"] },
  },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
};

/** The headers helmet sets with `options`: they do not depend on the request (no nonces). */
export function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
    getHeader: (name: string) => headers[name.toLowerCase()],
  };
  helmet(options)({} as never, response as never, () => {});
  return headers;
}

/**
 * Security headers on every response, decided by helmet once at startup: running its middleware
 * per request cost about 8 % of the API's CPU (bench pair 1). `/docs` sets a policy of its own
 * (see swagger.ts).
 */
export const securityHeadersPlugin = definePlugin({ name: '@ceres/api/security-headers', dependencies: [] }, async (app) => {
  const headers = { ...helmetHeaders(OPTIONS), 'cache-control': 'no-store' };
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
});
