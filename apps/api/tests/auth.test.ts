import { ConfigError } from '@ceres/queues';
import { TEST_ENCRYPTION_KEYS } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '../src/config';
import { tokenMatcher } from '@ceres/http';
import { auth, OTHER_TOKEN, REQUIRED_ENV, startApi, TOKEN, verify, useTestApi } from './helpers';

// These tests send over a hundred wrong tokens from one address on purpose; the failure limit
// itself is tested in hardening.test.ts.
const ctx = useTestApi({ API_AUTH_FAILURE_LIMIT: '100000' });

const PUBLIC = /^\/(health|docs)(\/|$)/;
const SAMPLE_PARAMS: Record<string, string> = { queue: 'email', job: 'verify', jobId: 'email:verify:user-1' };

/** Every registered route but /health and /docs, with its parameters filled in. */
function protectedRoutes() {
  return ctx.api.routes
    .filter((route) => !PUBLIC.test(route.url) && (route.config as { public?: boolean } | undefined)?.public !== true)
    .flatMap((route) => ([] as string[]).concat(route.method).map((method) => ({ method, url: route.url })))
    .map(({ method, url }) => ({ method, url: url.replace(/:(\w+)/g, (_, name: string) => SAMPLE_PARAMS[name] ?? 'x') }));
}

describe('authentication', () => {
  it('collects the route table from the app itself, so a new route cannot escape it', () => {
    const table = protectedRoutes().map((route) => `${route.method} ${route.url}`);
    expect(table).toEqual(
      expect.arrayContaining([
        'POST /jobs/email/verify',
        'POST /jobs/files/optimize-profile-picture/batch',
        'POST /jobs/email/verify',
        'GET /jobs/email/email:verify:user-1',
      ]),
    );
    // Five job types, each single and batch, the two 404 fallbacks, GET and HEAD of the status.
    expect(table.length).toBeGreaterThanOrEqual(5 * 2 + 2 + 2);
    expect(ctx.api.routes.some((route) => route.url === '/health')).toBe(true);
  });

  const wrong: Array<[string, Record<string, string>]> = [
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789abcdef' }],
    ['a prefix of a real token', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['a real token with a suffix', { authorization: `Bearer ${TOKEN}x` }],
    ['a real token under another scheme', { authorization: `Basic ${TOKEN}` }],
    ['the bare token', { authorization: TOKEN }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ];

  it.each(wrong)('answers 401 on every protected route with %s, and enqueues nothing', async (_, headers) => {
    for (const route of protectedRoutes()) {
      const response = await ctx.api.app.inject({
        method: route.method as 'GET',
        url: route.url,
        headers,
        ...(route.method === 'POST' ? { payload: verify() } : {}),
      });
      expect(response.statusCode, `${route.method} ${route.url}`).toBe(401);
      if (route.method !== 'HEAD') expect(response.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    }
    expect(await ctx.api.countJobs()).toBe(0);
  });

  it('accepts each configured token, and the scheme in any case', async () => {
    for (const headers of [auth(TOKEN), auth(OTHER_TOKEN), { authorization: `bearer ${TOKEN}` }]) {
      const response = await ctx.api.app.inject({ method: 'POST', url: '/jobs/email/verify', headers, payload: verify('authed') });
      expect(response.statusCode).toBe(202);
    }
  });

  it('leaves /health, /docs and the one-click /unsubscribe (its signed token is the proof) open', async () => {
    expect(
      [
        ...new Set(
          ctx.api.routes.filter((route) => (route.config as { public?: boolean } | undefined)?.public === true).map((route) => route.url),
        ),
      ].sort(),
    ).toEqual(['/health', '/unsubscribe']);
    expect((await ctx.api.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect((await ctx.api.app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
  });

  it('never writes a token to the log', async () => {
    await ctx.api.app.inject({ method: 'GET', url: '/jobs/email/x', headers: { authorization: 'Bearer leaked-token-0123456789' } });
    const text = JSON.stringify(ctx.api.logs);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('leaked-token');
  });
});

describe('API_AUTH=off', () => {
  it('accepts requests without a token and warns at start', async () => {
    const open = await startApi(ctx.redis, { API_AUTH: 'off', API_TOKENS: '' });
    try {
      const response = await open.app.inject({ method: 'POST', url: '/jobs/email/verify', payload: verify('open') });
      expect(response.statusCode).toBe(202);
      expect(open.logs.some((line) => line.level === 40 && String(line.msg).startsWith('API_AUTH=off'))).toBe(true);
    } finally {
      await open.close();
    }
  });

  it('does not warn when auth is on', () => {
    expect(ctx.api.logs.some((line) => String(line.msg).startsWith('API_AUTH=off'))).toBe(false);
  });
});

describe('tokenMatcher', () => {
  const match = tokenMatcher(['first-token-000000', 'second-token-00000']);

  it('returns the position of the matching token, -1 otherwise', () => {
    expect(match('Bearer first-token-000000')).toBe(0);
    expect(match('Bearer second-token-00000')).toBe(1);
    expect(match('BEARER second-token-00000')).toBe(1);
    expect(match('Bearer second-token-0000')).toBe(-1);
    expect(match('Bearer ')).toBe(-1);
    expect(match(undefined)).toBe(-1);
    expect(match('second-token-00000')).toBe(-1);
  });
});

describe('loadApiConfig', () => {
  const keys = { ...REQUIRED_ENV, JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS };
  const base = { API_TOKENS: TOKEN, ...keys };

  it('has the documented defaults', () => {
    const config = loadApiConfig(base);
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      auth: { enabled: true, tokens: [TOKEN] },
      rateLimitMax: 6000,
      authFailures: { max: 20, windowMs: 900_000 },
      bodyLimitBytes: 1_048_576,
      shutdownDrainMs: 2_000,
      logLevel: 'info',
    });
    expect(config.queues.bullPrefix).toBe('ceres:queue');
  });

  it('splits API_TOKENS on commas and trims them', () => {
    expect(loadApiConfig({ API_TOKENS: ` ${TOKEN} ,, ${OTHER_TOKEN} `, ...keys }).auth.tokens).toEqual([TOKEN, OTHER_TOKEN]);
  });

  it('refuses to start without tokens unless API_AUTH=off is explicit, naming API_TOKENS', () => {
    for (const env of [{}, { API_TOKENS: '' }, { API_TOKENS: ' , ' }, { API_AUTH: 'on' }]) {
      const error = (() => {
        try {
          loadApiConfig({ ...REQUIRED_ENV, ...env });
        } catch (caught) {
          return caught;
        }
      })();
      expect(error, JSON.stringify(env)).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe('API_TOKENS');
      expect((error as ConfigError).message).toMatch(/^API_TOKENS: .*API_AUTH=off/);
    }
    expect(loadApiConfig({ API_AUTH: 'off', ...keys }).auth).toEqual({ enabled: false, tokens: [] });
    expect(loadApiConfig({ API_AUTH: 'false', ...keys }).auth.enabled).toBe(false);
  });

  it('names the bad variable', () => {
    expect(() => loadApiConfig({ ...base, API_TOKENS: 'short' })).toThrow(/^API_TOKENS: token #1 is shorter than 16/);
    expect(() => loadApiConfig({ ...base, API_PORT: 'eighty' })).toThrow(/^API_PORT/);
    expect(() => loadApiConfig({ ...base, API_PORT: '70000' })).toThrow(/^API_PORT/);
    expect(() => loadApiConfig({ ...base, API_RATE_LIMIT_MAX: '0' })).toThrow(/^API_RATE_LIMIT_MAX/);
    expect(() => loadApiConfig({ ...base, API_BODY_LIMIT_BYTES: 'lots' })).toThrow(/^API_BODY_LIMIT_BYTES/);
    expect(() => loadApiConfig({ ...base, API_AUTH: 'maybe' })).toThrow(/^API_AUTH/);
    expect(() => loadApiConfig({ ...base, LOG_LEVEL: 'loud' })).toThrow(/^LOG_LEVEL/);
    expect(() => loadApiConfig({ ...base, REDIS_URL: 'http://x' })).toThrow(/^REDIS_URL/);
    expect(() => loadApiConfig({ ...base, DATABASE_URL: '' })).toThrow(/^DATABASE_URL: /);
    expect(() => loadApiConfig({ ...base, DATABASE_URL: 'mysql://x/y' })).toThrow(/^DATABASE_URL: /);
    expect(() => loadApiConfig({ ...base, UNSUBSCRIBE_SECRET: '' })).toThrow(/^UNSUBSCRIBE_SECRET/);
    expect(() => loadApiConfig({ ...base, UNSUBSCRIBE_SECRET: 'short' })).toThrow(/^UNSUBSCRIBE_SECRET: the value is shorter than 16/);
    expect(() => loadApiConfig({ ...base, UNSUBSCRIBE_SECRET: 'abababababababababab' })).toThrow(
      /^UNSUBSCRIBE_SECRET: the value has fewer than 6 distinct/,
    );
  });
});
