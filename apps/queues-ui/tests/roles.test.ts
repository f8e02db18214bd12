// Issue 27: who may do what. Each role × each action of the admin API and of Bull Board's own API
// (called directly): allowed, or 403 ROLE_REQUIRED naming the role needed; one audit row exactly
// when allowed. Real Redis, real PostgreSQL, accounts verified with scrypt.
import { ACTIONS, READ_ACTIONS, ROLES, roleAllows, type Action, type Role } from '@ceres/app-kit';
import { createDb, type Db } from '@ceres/db';
import { sharedPostgres, sharedRedis, waitFor, type PostgresPeer, type RedisPeer } from '@ceres/testing';
import type { HTTPMethods, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOARD_ACTIONS } from '../src/access/board-access';
import { addAccount, basic, GOOD_AUTH, startStack, startWorker, type Stack, type TestAccount } from './helpers/stack';

let redis: RedisPeer;
let postgres: PostgresPeer;
let db: Db;
let stack: Stack;
const accounts = {} as Record<Role, TestAccount>;
const routes: Array<{ methods: string[]; url: string; access: unknown }> = [];

beforeAll(async () => {
  redis = sharedRedis();
  postgres = await sharedPostgres();
  db = createDb(postgres.url, { maxConnections: 3 });
  for (const role of ROLES) accounts[role] = await addAccount(db, `${role}-1`, role);
  stack = await startStack(redis, {
    db,
    accountsRefreshMs: 200,
    onRoute: (route: RouteOptions) =>
      routes.push({ methods: ([] as HTTPMethods[]).concat(route.method), url: route.url, access: route.config?.access }),
  });
  // Something for the actions to act on: a failed and a delayed email job, a scheduler.
  const email = stack.client.getQueue('email');
  const worker = startWorker(stack.config, 'email', async () => {
    throw new Error('SMTP 550');
  });
  for (let i = 0; i < 4; i++) await email.add('verify', { userId: `u${i}` }, { attempts: 1 });
  await waitFor(async () => (await email.getFailedCount()) === 4, { what: 'the jobs to fail' });
  await worker.close();
  for (const role of ROLES) await email.add('verify', { userId: 'later' }, { delay: 3_600_000, jobId: `delayed-${role}` });
  await stack.client.getQueue('maintenance').upsertJobScheduler('roles-cron', { every: 3_600_000 }, { name: 'clean-verification-tokens' });
});

afterAll(async () => {
  await stack?.close();
  await db?.close();
  await postgres?.close();
});

interface Case {
  what: string;
  action: Action | 'read';
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  payload?: object;
}

const ADMIN_API: Case[] = [
  { what: 'stats', action: 'read', method: 'GET', url: '/api/queues/stats' },
  { what: 'jobs', action: 'read', method: 'GET', url: '/api/queues/email/jobs?state=failed' },
  { what: 'schedulers', action: 'read', method: 'GET', url: '/api/schedulers' },
  { what: 'metrics', action: 'read', method: 'GET', url: '/metrics' },
  { what: 'pause', action: 'queue.pause', method: 'POST', url: '/api/queues/slack/pause' },
  { what: 'resume', action: 'queue.resume', method: 'POST', url: '/api/queues/slack/resume' },
  { what: 'retry failed', action: 'job.retry', method: 'POST', url: '/api/queues/slack/retry' },
  { what: 'run a cron now', action: 'scheduler.run', method: 'POST', url: '/api/schedulers/roles-cron/run' },
  { what: 'clean', action: 'queue.clean', method: 'POST', url: '/api/queues/slack/clean/failed', payload: { gracePeriod: 0 } },
  { what: 'erasure', action: 'erasure', method: 'POST', url: '/api/erasure', payload: { userId: 'nobody-here' } },
  { what: 'audit', action: 'audit.read', method: 'GET', url: '/api/audit' },
  { what: 'job search', action: 'jobs.search', method: 'GET', url: '/api/jobs/search?key=u1' },
];

const BOARD: Case[] = [
  { what: 'board: queues', action: 'read', method: 'GET', url: '/ui/api/queues?activeQueue=email&status=failed&page=1&jobsPerPage=10' },
  { what: 'board: pause', action: 'queue.pause', method: 'PUT', url: '/ui/api/queues/slack/pause' },
  { what: 'board: resume', action: 'queue.resume', method: 'PUT', url: '/ui/api/queues/slack/resume' },
  { what: 'board: pause all', action: 'queue.pause', method: 'PUT', url: '/ui/api/queues/pause' },
  { what: 'board: resume all', action: 'queue.resume', method: 'PUT', url: '/ui/api/queues/resume' },
  { what: 'board: retry all', action: 'job.retry', method: 'PUT', url: '/ui/api/queues/slack/retry/failed' },
  { what: 'board: promote all', action: 'job.promote', method: 'PUT', url: '/ui/api/queues/slack/promote' },
  { what: 'board: retry one', action: 'job.retry', method: 'PUT', url: '/ui/api/queues/email/1/retry' },
  { what: 'board: promote one', action: 'job.promote', method: 'PUT', url: '/ui/api/queues/email/delayed-{role}/promote' },
  { what: 'board: run cron', action: 'scheduler.run', method: 'PUT', url: '/ui/api/queues/maintenance/job-schedulers/roles-cron/run' },
  { what: 'board: clean all', action: 'queue.clean', method: 'PUT', url: '/ui/api/queues/slack/clean/failed' },
  { what: 'board: remove one', action: 'job.remove', method: 'PUT', url: '/ui/api/queues/email/2/clean' },
  { what: 'board: empty', action: 'queue.drain', method: 'PUT', url: '/ui/api/queues/slack/empty' },
  // Not paused: Bull Board answers 400, recorded as such.
  { what: 'board: obliterate', action: 'queue.obliterate', method: 'PUT', url: '/ui/api/queues/files/obliterate', payload: {} },
  {
    what: 'board: add',
    action: 'job.add',
    method: 'POST',
    url: '/ui/api/queues/slack/add',
    payload: { name: 'alert', data: { text: 'x' }, options: {} },
  },
  {
    what: 'board: concurrency',
    action: 'queue.settings',
    method: 'PUT',
    url: '/ui/api/queues/slack/concurrency',
    payload: { concurrency: 5 },
  },
  { what: 'board: update data', action: 'job.update', method: 'PUT', url: '/ui/api/queues/email/3/update-data', payload: { jobData: {} } },
];

const lastAuditId = async () => (await db.audit.page({ limit: 1 }))[0]?.id ?? 0;

describe('each role × each action', () => {
  const table = [...ADMIN_API, ...BOARD].flatMap((entry) => ROLES.map((role) => ({ ...entry, role })));

  it.each(table)('$role: $what', async ({ role, action, method, url, payload }) => {
    const before = await lastAuditId();
    // update-data is a PATCH in Bull Board 9.
    const verb = url.endsWith('/update-data') ? 'PATCH' : method;
    const response = await stack.app.inject({
      method: verb,
      url: url.replace('{role}', role),
      headers: accounts[role].headers,
      ...(payload ? { payload } : {}),
    });
    const rows = (await db.audit.page({ limit: 10 })).filter((row) => row.id > before);
    if (roleAllows(role, action)) {
      expect(response.statusCode, response.body).not.toBe(403);
      expect(response.statusCode, response.body).toBeLessThan(500);
      if (action === 'read' || READ_ACTIONS.has(action)) {
        expect(rows).toEqual([]);
      } else {
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ actor: `account:${role}-1`, role, action, clientAddress: '127.0.0.1' });
        expect(rows[0]!.outcome).toMatch(/^(ok|error: .+)$/);
      }
    } else {
      expect(response.statusCode, response.body).toBe(403);
      expect(response.json()).toEqual({
        code: 'ROLE_REQUIRED',
        message: `${action === 'read' ? 'reading' : action} needs the ${ACTIONS[action as Action]} role (this account is ${role})`,
      });
      expect(rows).toEqual([]);
    }
  });

  it('covers every Bull Board action the app maps, and every admin-API route declares the role it needs', () => {
    const boardRoutes = new Set(BOARD.filter((entry) => entry.method !== 'GET').map((entry) => entry.action));
    for (const action of Object.values(BOARD_ACTIONS)) if (action !== 'scheduler.change') expect(boardRoutes, action).toContain(action);
    const own = routes.filter(
      (route) => !route.url.startsWith('/ui') && route.url !== '/health' && !route.methods.every((m) => m === 'HEAD'),
    );
    expect(own.length).toBeGreaterThan(8);
    for (const route of own) expect(route.access, `${route.methods.join(',')} ${route.url}`).toBeDefined();
  });

  it('an unknown queue is a 404 before any audit row', async () => {
    const before = await lastAuditId();
    for (const action of ['pause', 'resume', 'retry']) {
      const response = await stack.app.inject({
        method: 'POST',
        url: `/api/queues/no-such-queue/${action}`,
        headers: accounts.admin.headers,
      });
      expect(response.statusCode).toBe(404);
      expect(response.json().code).toBe('UNKNOWN_QUEUE');
    }
    expect(await lastAuditId()).toBe(before);
  });

  it("records a board action's parameters without the job's data or options", async () => {
    const before = await lastAuditId();
    const response = await stack.app.inject({
      method: 'POST',
      url: '/ui/api/queues/slack/add',
      headers: accounts.admin.headers,
      payload: { name: 'alert', data: { text: 'private-words-91' }, options: { delay: 60_000 } },
    });
    expect(response.statusCode).toBe(200);
    const [row] = (await db.audit.page({ limit: 1 })).filter((r) => r.id > before);
    expect(row).toMatchObject({
      action: 'job.add',
      target: { queueName: 'slack' },
      params: { name: 'alert', data: '***', options: '***' },
    });
    expect(JSON.stringify(row)).not.toContain('private-words-91');
  });

  it('records what the action was done on and its outcome: a board retry of one job', async () => {
    const before = await lastAuditId();
    const response = await stack.app.inject({ method: 'PUT', url: '/ui/api/queues/email/4/retry', headers: accounts.operator.headers });
    expect(response.statusCode).toBe(204);
    const [row] = (await db.audit.page({ limit: 1 })).filter((r) => r.id > before);
    expect(row).toMatchObject({ action: 'job.retry', target: { queueName: 'email', jobId: '4' }, outcome: 'ok', role: 'operator' });
    expect(await stack.client.getQueue('email').getJobState('4')).not.toBe('failed');
  });
});

describe('GET /api/audit', () => {
  it('pages the trail newest first, filtered, with the next page’s cursor', async () => {
    const page = async (query: string) => {
      const response = await stack.app.inject({ method: 'GET', url: `/api/audit${query}`, headers: accounts.admin.headers });
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as { rows: Array<{ id: number; action: string; actor: string; at: string }>; next: number | null };
    };
    const first = await page('?limit=3');
    expect(first.rows).toHaveLength(3);
    expect(first.rows.map((row) => row.id)).toEqual([...first.rows.map((row) => row.id)].sort((a, b) => b - a));
    expect(first.next).toBe(first.rows[2]!.id);
    const second = await page(`?limit=3&before=${first.next}`);
    expect(second.rows[0]!.id).toBeLessThan(first.next!);
    const retries = await page('?action=job.retry&actor=account:operator-1');
    expect(retries.rows.length).toBeGreaterThan(0);
    expect(retries.rows.every((row) => row.action === 'job.retry' && row.actor === 'account:operator-1')).toBe(true);
    expect((await page(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).rows).toEqual([]);
    const bad = await stack.app.inject({ method: 'GET', url: '/api/audit?since=yesterday', headers: accounts.admin.headers });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'INVALID_REQUEST', field: 'since' });
  });
});

describe('accounts', () => {
  it('the failed-login limit covers the accounts: after 20 wrong passwords even the right one is 429', async () => {
    const from = { remoteAddress: '10.9.8.7' };
    const wrong = { authorization: basic(accounts.viewer.name, 'not the password') };
    for (let i = 0; i < 20; i++) {
      expect((await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: wrong, ...from })).statusCode).toBe(401);
    }
    const right = await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: accounts.viewer.headers, ...from });
    expect(right.statusCode).toBe(429);
    // Another address is not affected.
    expect((await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: accounts.viewer.headers })).statusCode).toBe(200);
  });

  it('the bootstrap admin still logs in, and is audited as bootstrap:<user>', async () => {
    const before = await lastAuditId();
    const response = await stack.app.inject({ method: 'POST', url: '/api/queues/files/pause', headers: GOOD_AUTH });
    expect(response.statusCode).toBe(200);
    const [row] = (await db.audit.page({ limit: 1 })).filter((r) => r.id > before);
    expect(row).toMatchObject({ actor: 'bootstrap:ops', role: 'admin', action: 'queue.pause', target: { queue: 'files' } });
    await stack.app.inject({ method: 'POST', url: '/api/queues/files/resume', headers: GOOD_AUTH });
  });

  it('a wrong password is a 401; a disabled account is refused (401) within a refresh, its cached login dropped', async () => {
    const account = await addAccount(db, 'soon-disabled', 'admin');
    await waitFor(
      async () => (await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: account.headers })).statusCode === 200,
      { what: 'the new account to be read' },
    );
    const wrong = { authorization: `Basic ${Buffer.from(`${account.name}:${account.password}x`).toString('base64')}` };
    expect((await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: wrong })).statusCode).toBe(401);
    await db.accounts.setDisabled(account.name, true);
    await waitFor(
      async () => (await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: account.headers })).statusCode === 401,
      { what: 'the disabled account to be refused' },
    );
    // Bull Board's own routes too (its hooks resolve the same header).
    expect((await stack.app.inject({ method: 'GET', url: '/ui/api/queues', headers: account.headers })).statusCode).toBe(401);
  });

  it('a role change takes effect within a refresh, cached login or not', async () => {
    const account = await addAccount(db, 'demoted', 'admin');
    const clean = () =>
      stack.app.inject({ method: 'POST', url: '/api/queues/slack/clean/completed', headers: account.headers, payload: { gracePeriod: 0 } });
    await waitFor(async () => (await clean()).statusCode === 200, { what: 'the new account to be read' });
    await db.accounts.setRole(account.name, 'viewer');
    await waitFor(async () => (await clean()).statusCode === 403, { what: 'the new role to apply' });
  });
});
