import { Type } from '@sinclair/typebox';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  basicAuthPlugin,
  bearerAuthPlugin,
  errorHandlerPlugin,
  healthPlugin,
  HttpError,
  jsonBodyPlugin,
  safeEqual,
  secretDigest,
  toOpenApi30,
  typeboxValidatorCompiler,
} from '../src';

const failures = { max: 3, windowMs: 60_000 };

function app() {
  const instance = Fastify();
  instance.setValidatorCompiler(typeboxValidatorCompiler);
  instance.register(errorHandlerPlugin, { isOutage: (error) => (error as Error).message === 'redis gone' });
  instance.register(jsonBodyPlugin);
  return instance;
}

describe('toOpenApi30', () => {
  it('turns null unions into nullable and const into enum, leaving the rest', () => {
    const schema = toOpenApi30({
      a: { anyOf: [{ type: 'integer' }, { type: 'null' }] },
      b: { anyOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] },
      c: { const: 'x', type: 'string' },
      d: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
    });
    expect(schema).toEqual({
      a: { type: 'integer', nullable: true },
      b: { anyOf: [{ type: 'string' }, { type: 'integer' }], nullable: true },
      c: { enum: ['x'], type: 'string' },
      d: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
    });
  });
});

describe('safeEqual', () => {
  it('compares a secret with a digest made once', () => {
    const expected = secretDigest('correct horse battery');
    expect(safeEqual('correct horse battery', expected)).toBe(true);
    expect(safeEqual('correct horse batter', expected)).toBe(false);
    expect(safeEqual('', expected)).toBe(false);
  });
});

describe('the validator, the error handler and the JSON parser', () => {
  it('converts only plain decimal integers in the query, and names the field it refuses', async () => {
    const server = app();
    server.get(
      '/q',
      { schema: { querystring: Type.Object({ n: Type.Integer({ minimum: 0, default: 5 }) }, { additionalProperties: false }) } },
      async (request) => request.query,
    );
    expect((await server.inject('/q?n=7')).json()).toEqual({ n: 7 });
    expect((await server.inject('/q')).json()).toEqual({ n: 5 });
    for (const bad of ['1.5', '1e20', '0x10', 'abc', '-1']) {
      const response = await server.inject(`/q?n=${bad}`);
      expect(response.statusCode, bad).toBe(400);
      expect(response.json(), bad).toMatchObject({ code: 'INVALID_REQUEST', field: 'n' });
    }
    expect((await server.inject('/q?m=1')).json()).toMatchObject({ code: 'INVALID_REQUEST', field: 'm' });
  });

  it('answers every error in one shape: HttpError as is, outages 503 with Retry-After, the rest a silent 500', async () => {
    const server = app();
    server.get('/known', async () => {
      throw new HttpError('UNKNOWN_QUEUE', 'unknown queue "x"', { known: ['email'] });
    });
    server.get('/outage', async () => {
      throw new Error('redis gone');
    });
    server.get('/bug', async () => {
      throw new Error('secret detail');
    });
    expect((await server.inject('/known')).json()).toEqual({ code: 'UNKNOWN_QUEUE', message: 'unknown queue "x"', known: ['email'] });
    const outage = await server.inject('/outage');
    expect([outage.statusCode, outage.headers['retry-after'], outage.json().code]).toEqual([503, '2', 'QUEUE_UNAVAILABLE']);
    const bug = await server.inject('/bug');
    expect(bug.statusCode).toBe(500);
    expect(bug.json()).toEqual({ code: 'INTERNAL', message: 'internal error; it has been logged' });
    expect((await server.inject('/nowhere')).json()).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('tells a forbidden __proto__ key from broken JSON', async () => {
    const server = app();
    server.post('/b', async (request) => request.body);
    const post = (payload: string) =>
      server.inject({ method: 'POST', url: '/b', headers: { 'content-type': 'application/json' }, payload });
    expect((await post('{"a":1}')).json()).toEqual({ a: 1 });
    expect((await post('{"a":')).json()).toEqual({ code: 'INVALID_BODY', message: 'the body is not valid JSON' });
    expect((await post('')).json()).toEqual({ code: 'INVALID_BODY', message: 'the body is empty; send a JSON object' });
    expect((await post('{"__proto__":{"x":1}}')).json()).toEqual({
      code: 'INVALID_BODY',
      message: 'the body contains a forbidden "__proto__" or "constructor.prototype" key',
    });
  });
});

describe('the auth plugins and /health', () => {
  it('bearer: 401 without the token, 429 after the failure limit (the right token too), /health public', async () => {
    const server = app();
    let up = true;
    server.register(healthPlugin, { redisUp: async () => up });
    server.register(async (scope) => {
      scope.register(bearerAuthPlugin, { enabled: true, tokens: ['token-one-0123456789'], failures });
      scope.get('/private', async (request) => ({ client: request.apiClient }));
    });
    expect((await server.inject('/private')).json()).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await server.inject({ url: '/private', headers: { authorization: 'Bearer token-one-0123456789' } })).json()).toEqual({
      client: 'token:1',
    });
    for (let i = 0; i < failures.max; i++) await server.inject({ url: '/private', headers: { authorization: 'Bearer wrong' } });
    const throttled = await server.inject({ url: '/private', headers: { authorization: 'Bearer token-one-0123456789' } });
    expect([throttled.statusCode, throttled.json().code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    expect((await server.inject('/health')).json()).toEqual({ status: 'ok', redis: 'up' });
    up = false;
    const down = await server.inject('/health');
    expect([down.statusCode, down.json()]).toEqual([503, { status: 'unavailable', redis: 'down' }]);
  });

  it('bearer with resolve: static tokens are the default tenant, resolved ones their own, an HttpError is answered and not counted', async () => {
    const server = app();
    const asked: string[] = [];
    server.register(async (scope) => {
      scope.register(bearerAuthPlugin, {
        enabled: true,
        tokens: ['token-one-0123456789'],
        failures,
        resolve: (presented) => {
          asked.push(presented);
          if (presented === 'tenant-token-0123456789')
            return { client: 'api-token:t1', tenant: 'acme', scopes: new Set(['enqueue'] as const) };
          if (presented === 'unsure') return new HttpError('DATABASE_UNAVAILABLE', 'cannot tell yet');
          return undefined;
        },
      });
      scope.get('/private', async (request) => ({ client: request.apiClient, tenant: request.tenant }));
    });
    const get = (token: string) => server.inject({ url: '/private', headers: { authorization: `Bearer ${token}` } });
    expect((await get('token-one-0123456789')).json()).toEqual({ client: 'token:1', tenant: 'default' });
    expect((await get('tenant-token-0123456789')).json()).toEqual({ client: 'api-token:t1', tenant: 'acme' });
    // A static token never reaches the resolver.
    expect(asked).toEqual(['tenant-token-0123456789']);
    // More than the failure limit of "cannot tell": answered each time, none counted.
    for (let i = 0; i <= failures.max; i++) {
      const unsure = await get('unsure');
      expect([unsure.statusCode, unsure.json().code]).toEqual([503, 'DATABASE_UNAVAILABLE']);
    }
    expect((await get('tenant-token-0123456789')).statusCode).toBe(200);
    expect((await get('unknown-0123456789')).json()).toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it("bearer: a route's config.tokenScope refuses a resolved token without it (403, not counted); static tokens have every scope", async () => {
    const server = app();
    server.register(async (scope) => {
      scope.register(bearerAuthPlugin, {
        enabled: true,
        tokens: ['token-one-0123456789'],
        failures,
        resolve: (presented) =>
          presented === 'enqueue-only-0123456789'
            ? { client: 'api-token:t1', tenant: 'acme', scopes: new Set(['enqueue'] as const) }
            : undefined,
      });
      scope.get('/enqueue', { config: { tokenScope: 'enqueue' } }, async (request) => ({ scopes: [...request.tokenScopes] }));
      scope.get('/campaigns', { config: { tokenScope: 'campaigns' } }, async (request) => ({ scopes: [...request.tokenScopes] }));
    });
    const get = (url: string, token: string) => server.inject({ url, headers: { authorization: `Bearer ${token}` } });
    expect((await get('/enqueue', 'enqueue-only-0123456789')).json()).toEqual({ scopes: ['enqueue'] });
    for (let i = 0; i <= failures.max; i++) {
      const refused = await get('/campaigns', 'enqueue-only-0123456789');
      expect(refused.statusCode).toBe(403);
      expect(refused.json()).toEqual({ code: 'SCOPE_REQUIRED', message: expect.stringContaining('"campaigns" scope') });
    }
    expect((await get('/enqueue', 'enqueue-only-0123456789')).statusCode).toBe(200);
    expect((await get('/campaigns', 'token-one-0123456789')).json()).toEqual({ scopes: ['enqueue', 'campaigns'] });
  });

  it('bearer off: every request is the default tenant', async () => {
    const server = app();
    server.register(async (scope) => {
      scope.register(bearerAuthPlugin, { enabled: false, tokens: [], failures });
      scope.get('/private', { config: { tokenScope: 'campaigns' } }, async (request) => ({ tenant: request.tenant }));
    });
    expect((await server.inject('/private')).json()).toEqual({ tenant: 'default' });
  });

  it('basic: answers 401 with a challenge from the hook, also on routes with an error handler of their own', async () => {
    const server = app();
    server.register(basicAuthPlugin, { user: 'ops', pass: 'pass-0123456789abc', realm: 'test', failures });
    server.register(async (child) => {
      child.setErrorHandler(async () => ({ turned: 'into something else' }));
      child.get('/other', async () => 'ok');
    });
    const response = await server.inject('/other');
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Basic realm="test", charset="UTF-8"');
    expect(response.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    const good = `Basic ${Buffer.from('ops:pass-0123456789abc').toString('base64')}`;
    expect((await server.inject({ url: '/other', headers: { authorization: good } })).body).toBe('ok');
  });

  it('basic with resolve: the bootstrap admin, accounts resolved later (async), unknown ones 401 and counted, errors answered as they are', async () => {
    const server = app();
    const asked: string[] = [];
    server.register(basicAuthPlugin, {
      user: 'ops',
      pass: 'pass-0123456789abc',
      failures: { max: 2, windowMs: 60_000 },
      resolve: async ({ user, pass }) => {
        asked.push(user);
        await new Promise((resolve) => setImmediate(resolve));
        if (user === 'down') return new HttpError('DATABASE_UNAVAILABLE', 'not yet');
        return user === 'ana' && pass === 'right' ? { actor: 'account:ana', role: 'viewer', tenant: 'acme' } : undefined;
      },
    });
    server.get('/who', async (request) => request.principal);
    const as = (credentials: string, remoteAddress = '10.0.0.1') =>
      server.inject({ url: '/who', remoteAddress, headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } });
    expect((await as('ops:pass-0123456789abc')).json()).toEqual({ actor: 'bootstrap:ops', role: 'admin', tenant: null });
    expect((await as('ana:right')).json()).toEqual({ actor: 'account:ana', role: 'viewer', tenant: 'acme' });
    // The bootstrap admin is never asked of resolve.
    expect(asked).toEqual(['ana']);
    expect((await as('down:x')).statusCode).toBe(503);
    expect((await as('ana:wrong')).statusCode).toBe(401);
    expect((await as('ana:wrong')).statusCode).toBe(401);
    // Two failures (the 503 did not count): the address is throttled, the right credentials included.
    expect((await as('ana:right')).statusCode).toBe(429);
    expect((await as('ana:right', '10.0.0.2')).statusCode).toBe(200);
  });
});
