import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '@ceres/queues';
import { waitFor } from '@ceres/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadApiConfig } from '../src/config';
import { auth, REQUIRED_ENV, startApi, TOKEN, useTestApi } from './helpers';

// A reachable PostgreSQL: an id Redis does not hold is looked up in the job ledger.
const ctx = useTestApi({}, { postgres: true });

const wrong = (n: number, remoteAddress = '127.0.0.1') =>
  ctx.api.app.inject({
    method: 'GET',
    url: '/jobs/email/email:verify:u1',
    headers: auth(`wrong-token-${n}-0123456789abcdef`),
    remoteAddress,
  });

describe('security headers', () => {
  it('are on every kind of response: JSON, 401, 404, /health and /docs', async () => {
    const responses = {
      health: await ctx.api.app.inject({ method: 'GET', url: '/health' }),
      unauthorized: await ctx.api.app.inject({ method: 'GET', url: '/jobs/email/email:verify:u1' }),
      notFound: await ctx.api.app.inject({ method: 'GET', url: '/jobs/email/email:verify:u1', headers: auth() }),
      accepted: await ctx.api.app.inject({ method: 'POST', url: '/jobs/slack/alert', headers: auth(), payload: { text: 'headers' } }),
      docs: await ctx.api.app.inject({ method: 'GET', url: '/docs' }),
    };
    // /docs may redirect to its page; the page is what a browser renders.
    if (responses.docs.statusCode === 302) {
      responses.docs = await ctx.api.app.inject({
        method: 'GET',
        url: `/docs/${String(responses.docs.headers.location).replace(/^(\.\/|\/docs\/)/, '')}`,
      });
    }
    expect(responses.accepted.statusCode).toBe(202);
    expect(responses.docs.statusCode).toBe(200);
    for (const [name, response] of Object.entries(responses)) {
      expect(response.headers['x-content-type-options'], name).toBe('nosniff');
      expect(response.headers['x-frame-options'], name).toBe('DENY');
      expect(response.headers['referrer-policy'], name).toBe('no-referrer');
      expect(String(response.headers['content-security-policy']), name).toContain("frame-ancestors 'none'");
    }
    for (const name of ['health', 'unauthorized', 'notFound', 'accepted'] as const) {
      expect(responses[name].headers['cache-control'], name).toBe('no-store');
      expect(String(responses[name].headers['content-security-policy']), name).toMatch(/^default-src 'none'/);
    }
    const docsPolicy = String(responses.docs.headers['content-security-policy']);
    expect(docsPolicy).not.toContain('upgrade-insecure-requests');
    expect(docsPolicy).toContain("style-src 'self' 'unsafe-inline';");
    expect(docsPolicy).toContain("font-src 'self' data:;");
    expect(docsPolicy).not.toContain('https:');
    // The policy docs/api.md prints.
    expect(responses.accepted.headers['content-security-policy']).toBe(
      "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'",
    );
    const asset = await ctx.api.app.inject({ method: 'GET', url: '/docs/static/swagger-ui.css' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).not.toBe('no-store');
    expect(asset.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('failed authentication per client address', () => {
  it('answers 429 with Retry-After after 20 wrong tokens, even to the right token, and only for that address', async () => {
    const statuses: number[] = [];
    let last;
    for (let n = 0; n < 50; n++) {
      last = await wrong(n, '198.51.100.7');
      statuses.push(last.statusCode);
    }
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
    expect(statuses.slice(20)).toEqual(Array(30).fill(429));
    expect(last!.json()).toMatchObject({ code: 'RATE_LIMITED' });
    const retryAfter = Number(last!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(900);
    const right = await ctx.api.app.inject({
      method: 'GET',
      url: '/jobs/email/email:verify:u1',
      headers: auth(),
      remoteAddress: '198.51.100.7',
    });
    expect(right.statusCode).toBe(429);
    // Another address is not affected.
    expect((await wrong(0, '198.51.100.8')).statusCode).toBe(401);
    const other = await ctx.api.app.inject({
      method: 'GET',
      url: '/jobs/email/email:verify:u1',
      headers: auth(),
      remoteAddress: '198.51.100.8',
    });
    expect(other.statusCode).toBe(404);
  });

  it('does not count requests that send no credentials at all', async () => {
    for (let n = 0; n < 30; n++) {
      const response = await ctx.api.app.inject({ method: 'GET', url: '/jobs/email/x', remoteAddress: '198.51.100.9' });
      expect(response.statusCode).toBe(401);
    }
    const right = await ctx.api.app.inject({
      method: 'GET',
      url: '/jobs/email/email:verify:u1',
      headers: auth(),
      remoteAddress: '198.51.100.9',
    });
    expect(right.statusCode).toBe(404);
  });

  it('follows API_AUTH_FAILURE_LIMIT and API_AUTH_FAILURE_WINDOW_MS', async () => {
    const api = await startApi(ctx.redis, { API_AUTH_FAILURE_LIMIT: '2', API_AUTH_FAILURE_WINDOW_MS: '1000' });
    try {
      const once = () => api.app.inject({ method: 'GET', url: '/jobs/email/x', headers: auth('wrong-token-0123456789abcdef') });
      const windowFrom = Date.now();
      expect([(await once()).statusCode, (await once()).statusCode, (await once()).statusCode]).toEqual([401, 401, 429]);
      const limitedAt = Date.now();
      // Refused (429) until the window of 1 s is over, then judged again (401).
      await waitFor(async () => (await once()).statusCode === 401, { timeoutMs: 5_000, intervalMs: 50, what: 'the window to end' });
      expect(Date.now() - windowFrom).toBeGreaterThanOrEqual(1_000);
      expect(Date.now() - limitedAt).toBeLessThan(2_000);
    } finally {
      await api.close();
    }
  });
});

describe('token strength at startup', () => {
  it.each([
    ['x', /^API_TOKENS: token #1 is shorter than 16 characters/],
    ['aaaaaaaaaaaaaaaaaaaaaaaa', /^API_TOKENS: token #1 has fewer than 6 distinct characters/],
    [`${TOKEN},abababababababababab`, /^API_TOKENS: token #2 has fewer than 6 distinct/],
  ])('refuses API_TOKENS=%s, naming the variable and never the token', (tokens, message) => {
    let error: unknown;
    try {
      loadApiConfig({ ...REQUIRED_ENV, API_TOKENS: tokens });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('API_TOKENS');
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(tokens.split(',').at(-1)!);
  });
});

describe('the worker reserves its own alert keys', () => {
  it.each(['daily-report-2026-12-01', 'dead-email-email_verify_u1-1795526981000-0123456789'])(
    'refuses a slack/alert with dedupeKey %s (400 naming the field), single and in a batch',
    async (dedupeKey) => {
      const single = await ctx.api.app.inject({
        method: 'POST',
        url: '/jobs/slack/alert',
        headers: auth(),
        payload: { text: 'forged report', dedupeKey, delay: 3_600_000 },
      });
      expect(single.statusCode).toBe(400);
      expect(single.json().issues).toEqual([expect.objectContaining({ field: 'dedupeKey' })]);
      const batch = await ctx.api.app.inject({
        method: 'POST',
        url: '/jobs/slack/alert/batch',
        headers: auth(),
        payload: { items: [{ text: 'forged report', dedupeKey }] },
      });
      expect(batch.statusCode).toBe(400);
      expect(JSON.stringify(batch.json())).toContain('dedupeKey');
      expect(await ctx.api.queues.getQueue('slack').getJob(`slack:alert:${dedupeKey}`)).toBeUndefined();
    },
  );
});

describe('GET /jobs/:queue/:jobId reads only jobs the API enqueues', () => {
  const status = (queue: string, jobId: string) =>
    ctx.api.app.inject({ method: 'GET', url: `/jobs/${queue}/${encodeURIComponent(jobId)}`, headers: auth() });

  it('answers 404, never 500, for BullMQ’s own keys', async () => {
    // Make sure the keys exist: a job added and a metrics counter written.
    await ctx.api.app.inject({
      method: 'POST',
      url: '/jobs/email/verify',
      headers: auth(),
      payload: { userId: 'meta-u', email: 'a@example.com', firstName: 'A', token: 'abcdefghijklmnop1234' },
    });
    for (const id of [
      'meta',
      'id',
      'events',
      'stalled-check',
      'wait',
      'repeat:daily-report',
      'metrics:completed',
      'metrics:completed:data',
      '0',
      '01',
    ]) {
      for (const queue of ['email', 'slack', 'files', 'maintenance']) {
        const response = await status(queue, id);
        expect(response.statusCode, `${queue}/${id}`).toBe(404);
        expect(response.json(), `${queue}/${id}`).toMatchObject({ code: 'JOB_NOT_FOUND' });
      }
    }
  });

  it('answers 404 for maintenance jobs, which exist but are not API job types', async () => {
    const maintenance = ctx.api.queues.getQueue('maintenance');
    const plain = await maintenance.add('clean-verification-tokens', {});
    const repeat = await maintenance.add('daily-report', {}, { jobId: `repeat:daily-report:${Date.now()}` });
    for (const id of [plain.id!, repeat.id!]) {
      expect((await status('maintenance', id)).statusCode, id).toBe(404);
      expect((await status('email', id)).statusCode, id).toBe(404);
    }
  });

  it('still reads a platform job without a key, by its numeric id', async () => {
    const accepted = await ctx.api.app.inject({ method: 'POST', url: '/jobs/slack/alert', headers: auth(), payload: { text: 'no key' } });
    const { jobId } = accepted.json() as { jobId: string };
    expect(jobId).toMatch(/^[0-9]+$/);
    const response = await status('slack', jobId);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ jobId, job: 'alert' });
  });
});

// Issue 24 item 25: a method a route does not have is a 405 with Allow, not a 404 "no route".
describe('a method the route does not have', () => {
  /** Over a real socket: light-my-request is not the HTTP parser a client meets. */
  let server: AddressInfo;
  beforeAll(async () => {
    await ctx.api.app.listen({ host: '127.0.0.1', port: 0 });
    server = ctx.api.app.server.address() as AddressInfo;
  });
  const send = (method: string, path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; allow: string | undefined; body: Record<string, unknown> }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: server.port, method, path, headers }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            allow: res.headers.allow,
            body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
          }),
        );
      });
      req.on('error', reject);
      req.end();
    });

  it.each([
    ['TRACE', '/jobs/email/verify/batch', 'POST'],
    ['TRACE', '/health', 'GET, HEAD'],
    // Also the status route of a job whose id is "verify".
    ['DELETE', '/jobs/email/verify', 'GET, HEAD, POST'],
    ['PUT', '/unsubscribe', 'POST'],
  ])('%s %s answers 405 with Allow: %s, in the one error shape', async (method, path, allow) => {
    const response = await send(method, path, auth());
    expect(response.status).toBe(405);
    expect(response.allow).toBe(allow);
    expect(response.body).toEqual({ code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${path}; allowed: ${allow}` });
  });

  it('leaves an unknown path a 404', async () => {
    const response = await send('TRACE', '/nothing-here', auth());
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ code: 'NOT_FOUND' });
  });
});
