import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@ceres/queues';
import { sharedRedis, waitFor, type RedisPeer } from '@ceres/testing';
import type { HTTPMethods } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { AUTH, basic, GOOD_AUTH, startStack, startWorker, type Stack } from './helpers/stack';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

let redis: RedisPeer;
let stack: Stack;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  redis = sharedRedis();
  stack = await startStack(redis);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await stack?.close();
});

const inject = (method: HTTPMethods, url: string, headers: Record<string, string> = {}, payload?: string | object) =>
  stack.app.inject({
    method,
    url,
    headers: { ...GOOD_AUTH, host: '127.0.0.1:3050', ...headers },
    ...(payload === undefined ? {} : { payload }),
  });

describe('security headers', () => {
  it('are on the page, its assets, its API, the admin API, /metrics, /health and errors', async () => {
    const page = await inject('GET', '/ui');
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.body)![1]!;
    const responses = {
      page,
      asset: await inject('GET', `/ui/${script}`),
      boardApi: await inject('GET', '/ui/api/queues'),
      adminApi: await inject('GET', '/api/queues/stats'),
      metrics: await inject('GET', '/metrics'),
      health: await stack.app.inject({ method: 'GET', url: '/health' }),
      unauthorized: await stack.app.inject({ method: 'GET', url: '/api/queues/stats' }),
      notFound: await inject('GET', '/nothing-here'),
    };
    for (const [name, response] of Object.entries(responses)) {
      expect(response.statusCode, name).toBeLessThan(500);
      expect(response.headers['x-content-type-options'], name).toBe('nosniff');
      expect(response.headers['x-frame-options'], name).toBe('DENY');
      expect(response.headers['referrer-policy'], name).toBe('no-referrer');
      const csp = String(response.headers['content-security-policy']);
      expect(csp, name).toContain("default-src 'self'");
      expect(csp, name).toContain("frame-ancestors 'none'");
      expect(csp, name).toContain("script-src 'self'");
      expect(csp, name).not.toMatch(/script-src[^;]*unsafe/);
    }
    for (const name of ['page', 'boardApi', 'adminApi', 'metrics', 'unauthorized', 'notFound'] as const) {
      expect(responses[name].headers['cache-control'], name).toBe('no-store');
    }
    // Bull Board's package assets keep @fastify/static's validators (docs/queues-ui.md says so).
    expect(responses.asset.headers['cache-control']).toBe('public, max-age=0');
    // The policy docs/queues-ui.md prints.
    expect(responses.page.headers['content-security-policy']).toBe(
      "default-src 'self';base-uri 'self';connect-src 'self';font-src 'self' data:;form-action 'self';frame-ancestors 'none';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' 'unsafe-inline'",
    );
  });

  it('serves a page that links nothing from another host (no Google Fonts)', async () => {
    const page = await inject('GET', '/ui');
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toMatch(/(href|src)="https?:\/\//i);
    expect(page.body).not.toContain('fonts.googleapis.com');
    expect(page.body).toContain('static/css/main.');
  });
});

describe('cross-site requests', () => {
  const crossSite = [
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site (another port on this host)', { 'sec-fetch-site': 'same-site' }],
    ['an Origin of another site', { origin: 'http://evil.example' }],
    ['an Origin of another port', { origin: 'http://127.0.0.1:9999' }],
    ['Origin: null', { origin: 'null' }],
  ] as const;

  it.each(crossSite)('are refused (403) on the admin API and on Bull Board’s API, with %s', async (_label, headers) => {
    for (const [method, url] of [
      ['POST', '/api/queues/email/pause'],
      ['POST', '/api/queues/email/resume'],
      ['POST', '/api/queues/email/retry'],
      ['POST', '/api/queues/email/clean/failed'],
      ['POST', '/api/schedulers/daily-report/run'],
      ['PUT', '/ui/api/queues/email/pause'],
      ['PUT', '/ui/api/queues/pause'],
      ['PUT', '/ui/api/queues/email/retry/failed'],
      ['PUT', '/ui/api/queues/email/some-job/retry'],
    ] as const) {
      const response = await inject(method, url, { ...headers });
      expect(response.statusCode, `${method} ${url}`).toBe(403);
      expect(response.json(), `${method} ${url}`).toMatchObject({ code: 'CROSS_SITE_REQUEST' });
    }
    expect(await stack.client.getQueue('email').isPaused()).toBe(false);
  });

  it('lets same-origin requests and clients without browser headers (curl) through', async () => {
    expect((await inject('POST', '/api/queues/email/pause', { 'sec-fetch-site': 'same-origin' })).statusCode).toBe(200);
    expect((await inject('POST', '/api/queues/email/resume', { origin: 'http://127.0.0.1:3050' })).statusCode).toBe(200);
    expect((await inject('POST', '/api/queues/email/pause')).statusCode).toBe(200);
    expect((await inject('PUT', '/ui/api/queues/email/resume', { 'sec-fetch-site': 'same-origin' })).statusCode).toBe(200);
    expect(await stack.client.getQueue('email').isPaused()).toBe(false);
  });

  it('accepts only JSON bodies: text/plain, urlencoded and multipart are 415 even from the same origin', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const response = await inject('POST', '/api/queues/email/pause', { 'sec-fetch-site': 'same-origin', 'content-type': type }, 'a=b');
      expect(response.statusCode, type).toBe(415);
      const clean = await inject('POST', '/api/queues/email/clean/failed', { 'content-type': type }, '{"gracePeriod":0}');
      expect(clean.statusCode, type).toBe(415);
    }
    expect(await stack.client.getQueue('email').isPaused()).toBe(false);
    const json = await inject('POST', '/api/queues/email/clean/failed', { 'content-type': 'application/json' }, '{"gracePeriod":0}');
    expect(json.statusCode).toBe(200);
  });
});

describe('failed logins per client address', () => {
  it('answer 429 with Retry-After after 20 wrong passwords, to the right password too, for that address only', async () => {
    const statuses: number[] = [];
    let last;
    for (let n = 0; n < 50; n++) {
      last = await stack.app.inject({
        method: 'GET',
        url: '/ui',
        headers: { authorization: basic(AUTH.user, `guess ${n}`) },
        remoteAddress: '198.51.100.7',
      });
      statuses.push(last.statusCode);
    }
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
    expect(statuses.slice(20)).toEqual(Array(30).fill(429));
    expect(last!.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(last!.headers['retry-after'])).toBeLessThanOrEqual(900);
    const right = await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: GOOD_AUTH, remoteAddress: '198.51.100.7' });
    expect(right.statusCode).toBe(429);
    const elsewhere = await stack.app.inject({
      method: 'GET',
      url: '/api/queues/stats',
      headers: GOOD_AUTH,
      remoteAddress: '198.51.100.8',
    });
    expect(elsewhere.statusCode).toBe(200);
    // /health stays open.
    expect((await stack.app.inject({ method: 'GET', url: '/health', remoteAddress: '198.51.100.7' })).statusCode).toBe(200);
  });

  it('do not count requests without credentials (a browser before its login prompt)', async () => {
    for (let n = 0; n < 30; n++) {
      expect((await stack.app.inject({ method: 'GET', url: '/ui', remoteAddress: '198.51.100.9' })).statusCode).toBe(401);
    }
    expect((await stack.app.inject({ method: 'GET', url: '/ui', headers: GOOD_AUTH, remoteAddress: '198.51.100.9' })).statusCode).toBe(200);
  });

  it('follow QUEUES_UI_AUTH_FAILURE_LIMIT and QUEUES_UI_AUTH_FAILURE_WINDOW_MS', async () => {
    const config = loadConfig({ QUEUES_UI_PASS: AUTH.pass, QUEUES_UI_AUTH_FAILURE_LIMIT: '2', QUEUES_UI_AUTH_FAILURE_WINDOW_MS: '1000' });
    expect(config.authFailures).toEqual({ max: 2, windowMs: 1000 });
    const small = await startStack(redis, { authFailures: config.authFailures });
    cleanups.push(small.close);
    const once = async () =>
      (await small.app.inject({ method: 'GET', url: '/ui', headers: { authorization: basic(AUTH.user, 'nope') } })).statusCode;
    const windowFrom = Date.now();
    expect([await once(), await once(), await once()]).toEqual([401, 401, 429]);
    const limitedAt = Date.now();
    // Refused (429) until the window of 1 s is over, then judged again (401).
    await waitFor(async () => (await once()) === 401, { timeoutMs: 5_000, intervalMs: 50, what: 'the window to end' });
    expect(Date.now() - windowFrom).toBeGreaterThanOrEqual(1_000);
    expect(Date.now() - limitedAt).toBeLessThan(2_000);
  });
});

describe('QUEUES_UI_PASS strength', () => {
  it.each([
    ['x', /^QUEUES_UI_PASS: the password is shorter than 16 characters/],
    ['short-password', /^QUEUES_UI_PASS: the password is shorter than 16/],
    ['aaaaaaaaaaaaaaaaaaaaaaaa', /^QUEUES_UI_PASS: the password has fewer than 6 distinct characters/],
  ])('refuses %j, naming the variable and never the password', (pass, message) => {
    let error: unknown;
    try {
      loadConfig({ QUEUES_UI_PASS: pass });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('QUEUES_UI_PASS');
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(pass);
  });

  it('stops the real process at startup with a 1-character password, naming the variable', async () => {
    const child = spawn(process.execPath, ['apps/queues-ui/dist/main.js'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, QUEUES_UI_PASS: 'x', QUEUES_UI_PORT: '1', REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(output).toMatch(/queues-ui cannot start: QUEUES_UI_PASS: the password is shorter than 16 characters/);
  });
});

describe('paging', () => {
  it.each([
    ['page', 'page=1e20'],
    ['page', 'page=100000000000000000000'],
    ['page', 'page=0'],
    ['page', 'page=1.5'],
    ['jobsPerPage', 'jobsPerPage=1e20'],
    ['jobsPerPage', 'jobsPerPage=100000'],
  ])('answers 400 naming %s, never 500, on Bull Board’s API for %s', async (field, query) => {
    const response = await inject('GET', `/ui/api/queues?activeQueue=email&status=waiting&${query}`);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_REQUEST', field });
  });

  it('leaves Bull Board’s own paging working', async () => {
    const response = await inject('GET', '/ui/api/queues?activeQueue=email&status=waiting&page=1&jobsPerPage=10');
    expect(response.statusCode).toBe(200);
  });

  it.each([
    'start=1e20',
    'end=1e20',
    'start=100000000000000000000',
    'start=1e400',
    'start=-1',
    'start=abc',
    'start=1.5',
    'start=9007199254740993',
  ])('answers 400 naming the field, never 500, for %s', async (query) => {
    const response = await inject('GET', `/api/queues/email/jobs?state=failed&${query}`);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_REQUEST', field: query.split('=')[0] });
  });
});

describe('retries', () => {
  it('POST /api/queues/:queue/retry runs the job with its whole retry schedule again (attempts reset)', async () => {
    const email = stack.client.getQueue('email');
    const worker = startWorker(stack.config, 'email', async () => {
      throw new Error('SMTP 451');
    });
    cleanups.push(worker.close);
    const job = await email.add('welcome', { userId: 'r1' }, { attempts: 2, backoff: { type: 'fixed', delay: 0 } });
    await waitFor(async () => (await email.getJobState(job.id!)) === 'failed', { what: 'the first failure' });
    expect((await email.getJob(job.id!))!.attemptsMade).toBe(2);

    const response = await inject('POST', '/api/queues/email/retry');
    expect(response.json()).toMatchObject({ retried: 1 });
    await waitFor(
      async () => worker.processed.filter((id) => id === job.id).length === 4 && (await email.getJobState(job.id!)) === 'failed',
      {
        what: 'the second round of attempts',
      },
    );
    // Two more attempts, the whole schedule, not one: 2 (not 3) attempts on the record.
    expect((await email.getJob(job.id!))!.attemptsMade).toBe(2);
  });

  it('Bull Board’s ↻ gives a failed job one more attempt: attemptsMade is kept (documented as such)', async () => {
    const email = stack.client.getQueue('email');
    const worker = startWorker(stack.config, 'email', async () => {
      throw new Error('SMTP 451');
    });
    cleanups.push(worker.close);
    const job = await email.add('welcome', { userId: 'r2' }, { attempts: 2, backoff: { type: 'fixed', delay: 0 } });
    await waitFor(async () => (await email.getJobState(job.id!)) === 'failed', { what: 'the first failure' });
    const retried = await inject('PUT', `/ui/api/queues/email/${job.id}/retry`, { 'sec-fetch-site': 'same-origin' });
    expect(retried.statusCode).toBe(204);
    await waitFor(
      async () => worker.processed.filter((id) => id === job.id).length === 3 && (await email.getJobState(job.id!)) === 'failed',
      {
        what: 'the one extra attempt',
      },
    );
    expect((await email.getJob(job.id!))!.attemptsMade).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(worker.processed.filter((id) => id === job.id)).toHaveLength(3);
  });

  it('Bull Board does not retry completed email jobs (a re-run re-sends the mail); other queues still do', async () => {
    for (const name of ['email', 'slack'] as const) {
      const queue = stack.client.getQueue(name);
      const worker = startWorker(stack.config, name, async () => 'sent');
      cleanups.push(worker.close);
      const job = await queue.add('job', { n: 1 }, { removeOnComplete: false });
      await waitFor(async () => (await queue.getJobState(job.id!)) === 'completed', { what: `the ${name} job to complete` });
      await worker.close();
    }
    const queues = (await inject('GET', '/ui/api/queues?activeQueue=email&status=completed')).json() as {
      queues: Array<{ name: string; allowCompletedRetries: boolean; allowRetries: boolean }>;
    };
    expect(queues.queues.find((queue) => queue.name === 'email')).toMatchObject({ allowRetries: true, allowCompletedRetries: false });
    expect(queues.queues.find((queue) => queue.name === 'slack')).toMatchObject({ allowCompletedRetries: true });

    const email = stack.client.getQueue('email');
    const [completed] = await email.getCompleted(0, 0);
    const all = await inject('PUT', '/ui/api/queues/email/retry/completed', { 'sec-fetch-site': 'same-origin' });
    expect(all.statusCode).toBe(403);
    expect(all.json()).toMatchObject({ code: 'COMPLETED_RETRY_DISABLED' });
    const one = await inject('PUT', `/ui/api/queues/email/${encodeURIComponent(completed!.id!)}/retry`, {
      'sec-fetch-site': 'same-origin',
    });
    expect(one.statusCode).toBe(403);
    expect(await email.getJobState(completed!.id!)).toBe('completed');

    const slackAll = await inject('PUT', '/ui/api/queues/slack/retry/completed', { 'sec-fetch-site': 'same-origin' });
    expect(slackAll.statusCode).toBe(200);
  });
});
