import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { freePort, sharedRedis, waitFor, type RedisPeer } from '@ceres/testing';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, hasChromium, launchChromium } from './helpers/chromium';
import { AUTH, startStack, startWorker, type Stack } from './helpers/stack';

let redis: RedisPeer;
let stack: Stack;
let boardUrl: string;
let attacker: Server;
let attackerUrl: string;

/**
 * The other site: a page on another loopback port (so Sec-Fetch-Site is `same-site`, the closest
 * a page can get) that forges the requests the issue describes, as soon as it loads.
 */
function attackPage(target: string): string {
  return `<!doctype html><html><body>
<form id="forged" method="POST" enctype="text/plain" action="${target}/api/queues/email/pause"><input name="x" value="y"></form>
<script>
  const post = (path, init = {}) => fetch('${target}' + path, { method: 'POST', mode: 'no-cors', credentials: 'include', ...init }).catch(() => {});
  Promise.all([
    post('/api/queues/email/retry', { body: 'x', headers: { 'content-type': 'text/plain' } }),
    post('/api/schedulers/daily-report/run'),
    post('/api/queues/email/resume'),
    fetch('${target}/ui/api/queues/email/pause', { method: 'PUT', credentials: 'include' }).catch(() => {}),
    fetch('${target}/ui/api/queues/email/retry/failed', { method: 'PUT', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{}' }).catch(() => {}),
  ]).then(() => { document.title = 'fetched'; document.getElementById('forged').submit(); });
</script></body></html>`;
}

beforeAll(async () => {
  if (!hasChromium()) throw new Error(`${CHROMIUM_PATH} is missing: apt-get install -y --no-install-recommends chromium`);
  redis = sharedRedis();
  stack = await startStack(redis);
  const port = await freePort();
  await stack.app.listen({ host: '127.0.0.1', port });
  boardUrl = `http://127.0.0.1:${port}`;
  const attackerPort = await freePort();
  attacker = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end(attackPage(boardUrl));
  });
  await new Promise<void>((resolve) => attacker.listen(attackerPort, '127.0.0.1', resolve));
  attackerUrl = `http://127.0.0.1:${attackerPort}/`;
});

afterAll(async () => {
  await new Promise((resolve) => attacker?.close(resolve));
  await stack?.close();
});

/** A failed email job, for retry attempts to act on. */
async function failedEmailJob(userId: string) {
  const email = stack.client.getQueue('email');
  const worker = startWorker(stack.config, 'email', async () => {
    throw new Error('SMTP 550: mailbox unavailable');
  });
  const job = await email.add('verify', { userId }, { attempts: 1 });
  await waitFor(async () => (await email.getJobState(job.id!)) === 'failed', { what: 'the job to fail' });
  await worker.close();
  return job;
}

/** Clicks one of the queue's actions (the ⋮ menu) and confirms it. */
async function queueAction(page: Page, name: RegExp) {
  await page.locator('main button[aria-haspopup="menu"]').first().click();
  await page.getByRole('menuitem', { name }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
}

describe('a page on another site, after the operator logged in to Bull Board', () => {
  it('cannot pause, retry or run anything; the board’s own buttons still work', async () => {
    const email = stack.client.getQueue('email');
    const job = await failedEmailJob('cross-site');
    const browser = await launchChromium({ httpCredentials: { username: AUTH.user, password: AUTH.pass } });
    try {
      const board = await browser.context.newPage();
      board.setDefaultTimeout(10_000);
      expect((await board.goto(`${boardUrl}/ui`))?.status()).toBe(200);
      await board.locator('nav').getByRole('link', { name: 'email', exact: true }).waitFor();

      // The other site, in the same browser (credentials cached), as a second tab.
      const evil = await browser.context.newPage();
      // What the app itself answered, seen on its HTTP server (the browser hides opaque responses).
      const answers: Array<{ method: string; url: string; status: number; site: string | undefined }> = [];
      const record = (request: IncomingMessage, response: ServerResponse) => {
        response.once('finish', () => {
          if (request.headers.referer?.startsWith(attackerUrl) || request.headers.origin === new URL(attackerUrl).origin) {
            answers.push({
              method: request.method!,
              url: request.url!,
              status: response.statusCode,
              site: request.headers['sec-fetch-site'] as string | undefined,
            });
          }
        });
      };
      stack.app.server.on('request', record);
      await evil.goto(attackerUrl);
      await evil.waitForURL(`${boardUrl}/api/queues/email/pause`);
      await waitFor(() => answers.filter((answer) => answer.method === 'POST').length === 4, { what: 'the forged POSTs to be answered' });
      stack.app.server.off('request', record);

      // The forged requests reached the app, and each was refused.
      const posts = answers.filter((answer) => answer.method === 'POST');
      expect(posts.map((answer) => answer.url).sort()).toEqual([
        '/api/queues/email/pause',
        '/api/queues/email/resume',
        '/api/queues/email/retry',
        '/api/schedulers/daily-report/run',
      ]);
      for (const answer of posts) {
        expect(answer.status, answer.url).toBe(403);
        expect(answer.site, answer.url).toBe('same-site');
      }
      expect(answers.some((answer) => answer.status < 400)).toBe(false);
      expect(await email.isPaused()).toBe(false);
      expect(await email.getJobState(job.id!)).toBe('failed');
      expect(await stack.client.getQueue('maintenance').count()).toBe(0);

      // The board itself: Pause from the queue's menu, then retry the failed job.
      await board.bringToFront();
      await board.goto(`${boardUrl}/ui/queue/email?status=failed`);
      const paused = board.waitForResponse(
        (response) => response.request().method() === 'PUT' && response.url().endsWith('/ui/api/queues/email/pause'),
      );
      await queueAction(board, /^Pause$/);
      expect((await paused).status()).toBe(200);
      expect(await email.isPaused()).toBe(true);

      await board.goto(`${boardUrl}/ui/queue/email/${job.id}`);
      await board.getByText('SMTP 550: mailbox unavailable').first().waitFor();
      const actions = board.locator('main ul li button');
      let retry;
      for (let i = 0; i < (await actions.count()); i++) {
        await actions.nth(i).hover();
        if (
          await board
            .getByText('Retry', { exact: true })
            .waitFor({ timeout: 1500 })
            .then(
              () => true,
              () => false,
            )
        ) {
          retry = actions.nth(i);
          break;
        }
      }
      expect(retry, 'a job action with the tooltip "Retry"').toBeDefined();
      await retry!.click();
      const retried = board.waitForResponse(
        (response) => response.request().method() === 'PUT' && response.url().endsWith(`/ui/api/queues/email/${job.id}/retry`),
      );
      await board.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
      expect((await retried).status()).toBe(204);
      expect(await email.getJobState(job.id!)).not.toBe('failed');
    } finally {
      await browser.close();
      await email.resume();
    }
  }, 90_000);
});

describe('the dashboard with the network limited to 127.0.0.1', () => {
  /** Visits the pages an operator uses and records what the browser did. */
  async function visit(blockOtherHosts: boolean) {
    const job = await failedEmailJob(`offline-${blockOtherHosts}`);
    const browser = await launchChromium({ httpCredentials: { username: AUTH.user, password: AUTH.pass }, blockOtherHosts });
    const seen = { requests: [] as string[], failed: [] as string[], consoleErrors: [] as string[] };
    try {
      const page = await browser.context.newPage();
      page.setDefaultTimeout(10_000);
      page.on('request', (request) => seen.requests.push(request.url()));
      page.on('requestfailed', (request) => seen.failed.push(`${request.url()} ${request.failure()?.errorText}`));
      page.on('response', (response) => {
        if (response.status() >= 400) seen.failed.push(`${response.url()} ${response.status()}`);
      });
      page.on('console', (message) => {
        if (message.type() === 'error') seen.consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => seen.consoleErrors.push(error.message));
      await page.goto(`${boardUrl}/ui`, { waitUntil: 'networkidle' });
      await page.locator('nav').getByRole('link', { name: 'email', exact: true }).click();
      await page.getByRole('link', { name: /^FAILED/ }).click();
      await page.locator(`a[href*="/queue/email/${job.id}"]`).first().click();
      await page.getByText('SMTP 550: mailbox unavailable').first().waitFor();
      await page.waitForLoadState('networkidle');
      // Styles applied: the page is laid out by its stylesheet, in a system font.
      const font = String(await page.evaluate('getComputedStyle(document.body).fontFamily'));
      expect(font).toContain('system-ui');
      const styled = String(await page.evaluate('getComputedStyle(document.body).margin'));
      expect(styled).toBe('0px');
    } finally {
      await browser.close();
    }
    return seen;
  }

  it('loads fully with 0 failed requests and 0 console errors while other hosts are aborted', async () => {
    const seen = await visit(true);
    expect(seen.requests.length).toBeGreaterThan(5);
    expect(seen.failed).toEqual([]);
    expect(seen.consoleErrors).toEqual([]);
  }, 60_000);

  it('asks no other host for anything when nothing is aborted', async () => {
    const seen = await visit(false);
    expect(seen.requests.filter((url) => new URL(url).hostname !== '127.0.0.1')).toEqual([]);
    expect(seen.consoleErrors).toEqual([]);
  }, 60_000);
});
