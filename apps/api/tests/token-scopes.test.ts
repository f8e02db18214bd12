// Issue 27: token scopes. `enqueue` covers POST /jobs/*, the batches and the status of the tenant's
// own jobs; `campaigns` the newsletter routes. A route outside the token's scopes is a 403
// SCOPE_REQUIRED naming the scope it needs; API_TOKENS have every scope. Real Redis and PostgreSQL;
// the tokens are api_tokens rows as `ceres-jobs tokens create` writes them.
import { randomUUID } from 'node:crypto';
import type { TokenScope } from '@ceres/app-kit';
import { createDb, type Db } from '@ceres/db';
import { apiTokenHash, newApiToken, parseKeyring } from '@ceres/queues';
import { sharedPostgres, sharedRedis, TEST_ENCRYPTION_KEYS, waitFor, type PostgresPeer, type RedisPeer } from '@ceres/testing';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTokenScope } from '../src/app';
import { auth, startApi, TOKEN, verify, type TestApi } from './helpers';

const keyring = parseKeyring(TEST_ENCRYPTION_KEYS);
/** Low, so that a test can show scope refusals are not counted as failed authentications. */
const FAILURE_LIMIT = 3;

let redis: RedisPeer;
let postgres: PostgresPeer;
let db: Db;
let api: TestApi;
const tokens = {} as Record<'enqueue' | 'campaigns' | 'both' | 'legacy', string>;

/** A token of tenant `a` with `scopes`, or (undefined) without any given, as the CLI writes one without `--scope`. */
async function createToken(scopes: TokenScope[] | undefined): Promise<string> {
  const token = newApiToken();
  await db.apiTokens.insert({
    id: `tok-${randomUUID().slice(0, 8)}`,
    tenantId: 'a',
    name: 'scopes test',
    keyVersion: keyring.current.version,
    tokenHash: apiTokenHash(keyring.current, token),
    ...(scopes ? { scopes } : {}),
  });
  return token;
}

/** A token row written without the scopes column, as the rows made before migration 013 got it (its DEFAULT). */
async function createLegacyToken(): Promise<string> {
  const token = newApiToken();
  await db.pool.query('INSERT INTO api_tokens (id, tenant_id, name, key_version, token_hash) VALUES ($1, $2, $3, $4, $5)', [
    `tok-${randomUUID().slice(0, 8)}`,
    'a',
    'before scopes',
    keyring.current.version,
    apiTokenHash(keyring.current, token),
  ]);
  return token;
}

beforeAll(async () => {
  redis = sharedRedis();
  postgres = await sharedPostgres();
  db = createDb(postgres.url);
  await db.tenants.add('a', { name: 'Tenant A' });
  tokens.enqueue = await createToken(undefined);
  tokens.campaigns = await createToken(['campaigns']);
  tokens.both = await createToken(['enqueue', 'campaigns']);
  tokens.legacy = await createLegacyToken();
  // Written before the API starts: its first read (at ready) has them.
  api = await startApi(redis, { DATABASE_URL: postgres.url, API_AUTH_FAILURE_LIMIT: String(FAILURE_LIMIT) });
}, 60_000);

afterAll(async () => {
  await api?.close();
  await db?.close();
  await postgres?.close();
});

const call = (token: string, method: 'GET' | 'POST', url: string, payload?: unknown) =>
  api.app.inject({ method, url, headers: auth(token), ...(payload === undefined ? {} : { payload: payload as object }) });

const campaignBody = { subject: 'Hola {{firstName}}', text: 'Texto {{unsubscribeUrl}}' };
/** A campaign of tenant a (its tokens' tenant) and one of default (the API_TOKENS' tenant): another tenant's is a 404. */
const campaigns = {} as Record<'a' | 'default', string>;

/** One call of each route a token scope covers, and the status it answers when the scope is there. */
const ROUTES: Array<{ scope: TokenScope; name: string; send: (token: string, campaignId: string) => ReturnType<typeof call>; ok: number }> =
  [
    {
      scope: 'enqueue',
      name: 'POST /jobs/email/verify',
      send: (t) => call(t, 'POST', '/jobs/email/verify', verify(`u-${randomUUID()}`)),
      ok: 202,
    },
    {
      scope: 'enqueue',
      name: 'POST /jobs/email/verify/batch',
      send: (t) => call(t, 'POST', '/jobs/email/verify/batch', { items: [verify(`u-${randomUUID()}`)] }),
      ok: 202,
    },
    { scope: 'enqueue', name: 'GET /jobs/email/:jobId', send: (t) => call(t, 'GET', '/jobs/email/email%3Averify%3Anobody'), ok: 404 },
    { scope: 'campaigns', name: 'POST /campaigns', send: (t) => call(t, 'POST', '/campaigns', campaignBody), ok: 201 },
    { scope: 'campaigns', name: 'GET /campaigns/:id', send: (t, campaignId) => call(t, 'GET', `/campaigns/${campaignId}`), ok: 200 },
    {
      scope: 'campaigns',
      name: 'POST /campaigns/:id/recipients',
      send: (t, campaignId) =>
        call(t, 'POST', `/campaigns/${campaignId}/recipients`, {
          recipients: [{ userId: 'u-1', email: 'u1@example.com', firstName: 'U' }],
        }),
      ok: 202,
    },
  ];

describe('token scopes', () => {
  beforeAll(async () => {
    for (const [tenant, token] of [
      ['a', tokens.both],
      ['default', TOKEN],
    ] as const) {
      const created = await call(token, 'POST', '/campaigns', campaignBody);
      expect(created.statusCode, created.body).toBe(201);
      campaigns[tenant] = created.json().campaignId as string;
    }
  });

  const cases: Array<[string, keyof typeof tokens | 'API_TOKENS', TokenScope[]]> = [
    ['an enqueue token (created without --scope)', 'enqueue', ['enqueue']],
    ['a token made before scopes existed (the column default)', 'legacy', ['enqueue']],
    ['a campaigns-only token', 'campaigns', ['campaigns']],
    ['a token with both scopes', 'both', ['enqueue', 'campaigns']],
    ['an API_TOKENS token', 'API_TOKENS', ['enqueue', 'campaigns']],
  ];
  describe.each(cases)('%s', (_, which, has) => {
    const token = () => (which === 'API_TOKENS' ? TOKEN : tokens[which]);
    it.each(ROUTES.map((route) => [route.name, route] as const))('%s', async (_name, route) => {
      const before = await api.countJobs();
      const response = await route.send(token(), which === 'API_TOKENS' ? campaigns.default : campaigns.a);
      if (has.includes(route.scope)) {
        expect(response.statusCode, response.body).toBe(route.ok);
      } else {
        expect(response.statusCode, response.body).toBe(403);
        expect(response.json()).toEqual({ code: 'SCOPE_REQUIRED', message: expect.stringContaining(`"${route.scope}" scope`) });
        // Refused before the handler: nothing enqueued.
        expect(await api.countJobs()).toBe(before);
      }
    });
  });

  it("a refused enqueue names the scope and the token's own, and nothing is written; an unknown job type is refused the same", async () => {
    const response = await call(tokens.campaigns, 'POST', '/jobs/email/verify', verify('scoped-out'));
    expect(response.json().message).toBe(
      'this route needs a token with the "enqueue" scope (this token\'s scopes: campaigns); an admin creates one with `ceres-jobs tokens create --tenant a --scope enqueue`',
    );
    expect(await api.queues.getQueue('email').getJob('a@email:verify:scoped-out')).toBeUndefined();
    // Not a 404 listing the job types: a token outside the scope learns nothing of the routes behind it.
    const unknown = await call(tokens.campaigns, 'POST', '/jobs/nope/nope', {});
    expect([unknown.statusCode, unknown.json().code]).toEqual([403, 'SCOPE_REQUIRED']);
  });

  it('a refused campaign route creates no campaign', async () => {
    const count = async () => (await db.pool.query("SELECT count(*)::int AS n FROM newsletter_campaigns WHERE tenant_id = 'a'")).rows[0].n;
    const before = await count();
    const response = await call(tokens.enqueue, 'POST', '/campaigns', campaignBody);
    expect([response.statusCode, response.json().code]).toEqual([403, 'SCOPE_REQUIRED']);
    expect(response.json().message).toContain('"campaigns" scope');
    expect(await count()).toBe(before);
  });

  it('scope refusals are not failed authentications: more than the limit, and the token still works', async () => {
    for (let i = 0; i <= FAILURE_LIMIT + 1; i++) {
      expect((await call(tokens.campaigns, 'POST', '/jobs/email/verify', verify('limit'))).statusCode).toBe(403);
    }
    expect((await call(tokens.campaigns, 'GET', `/campaigns/${campaigns.a}`)).statusCode).toBe(200);
    expect((await call(tokens.enqueue, 'POST', '/jobs/email/verify', verify('after-refusals'))).statusCode).toBe(202);
  });

  it('every route behind the token declares its scope: /jobs/* enqueue, /campaigns* campaigns; public routes none', () => {
    const declared = api.routes.map((route) => ({
      url: route.url,
      public: route.config?.public === true,
      scope: route.config?.tokenScope,
    }));
    for (const route of declared) {
      if (route.public || route.url.startsWith('/docs') || route.url === '/health') {
        expect(route.scope, route.url).toBeUndefined();
      } else if (route.url.startsWith('/campaigns')) {
        expect(route.scope, route.url).toBe('campaigns');
      } else {
        expect(route.url, route.url).toMatch(/^\/jobs\//);
        expect(route.scope, route.url).toBe('enqueue');
      }
    }
    expect(declared.filter((route) => route.scope === 'campaigns').length).toBeGreaterThanOrEqual(5);
  });

  it('a change of scopes in api_tokens takes effect at the next read of the tokens, as a revocation does', async () => {
    const token = await createToken(['enqueue']);
    // An API of its own, started after the token was written: its first read has it.
    const other = await startApi(redis, { DATABASE_URL: postgres.url });
    try {
      const get = (url: string) => other.app.inject({ method: 'GET', url, headers: auth(token) });
      expect((await get('/jobs/email/email%3Averify%3Anobody')).statusCode).toBe(404);
      expect((await get(`/campaigns/${campaigns.a}`)).statusCode).toBe(403);
      await db.pool.query("UPDATE api_tokens SET scopes = '{campaigns}' WHERE token_hash = $1", [apiTokenHash(keyring.current, token)]);
      const changedAt = Date.now();
      await waitFor(async () => (await get(`/campaigns/${campaigns.a}`)).statusCode === 200, {
        timeoutMs: 10_000,
        intervalMs: 50,
        what: 'the campaigns scope granted',
      });
      expect(Date.now() - changedAt).toBeLessThan(5_000);
      expect((await get('/jobs/email/email%3Averify%3Anobody')).json().code).toBe('SCOPE_REQUIRED');
    } finally {
      await other.close();
    }
  });

  it('a route behind the token that declares no scope stops the app at startup', async () => {
    const app = Fastify();
    app.register(async (scope) => {
      scope.addHook('onRoute', requireTokenScope);
      scope.get('/scoped', { config: { tokenScope: 'enqueue' } }, async () => 'ok');
      scope.get('/forgotten', async () => 'ok');
    });
    await expect(app.ready()).rejects.toThrow('GET /forgotten: a route behind the bearer token must declare config.tokenScope');
    await app.close().catch(() => {});
  });

  it('the OpenAPI document names the scope of each route', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, { description?: string }>>;
    };
    expect(doc.paths['/jobs/email/verify']!.post!.description).toContain('Needs a token with the `enqueue` scope');
    expect(doc.paths['/jobs/{queue}/{jobId}']!.get!.description).toContain('`enqueue` scope');
    expect(doc.paths['/campaigns']!.post!.description).toContain('Needs a token with the `campaigns` scope');
    expect(doc.paths['/health']!.get!.description ?? '').not.toContain('scope');
  });

  it('public routes answer without a token: health and unsubscribe', async () => {
    expect((await api.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const unsubscribe = await api.app.inject({ method: 'POST', url: '/unsubscribe?t=bad' });
    expect(unsubscribe.statusCode).toBe(400);
  });
});
