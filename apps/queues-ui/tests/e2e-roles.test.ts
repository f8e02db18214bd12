// Issue 27 in a real browser: a viewer's Bull Board is read-only (no Retry, Clean, Promote, Pause
// buttons on a failed job's page and its queue) while an admin sees them; a viewer's direct call to
// a board action route, from the page itself, is refused and changes nothing.
import { createDb, type Db } from '@ceres/db';
import { freePort, sharedPostgres, sharedRedis, waitFor, type PostgresPeer, type RedisPeer } from '@ceres/testing';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, hasChromium, launchChromium } from './helpers/chromium';
import { addAccount, startStack, startWorker, type Stack, type TestAccount } from './helpers/stack';

let redis: RedisPeer;
let postgres: PostgresPeer;
let db: Db;
let stack: Stack;
let baseUrl: string;
let viewer: TestAccount;
let admin: TestAccount;
let jobId: string;

const ACTION_BUTTON = /^(retry|clean|promote|pause|remove|delete|duplicate|empty|obliterate)/i;

beforeAll(async () => {
  if (!hasChromium()) throw new Error(`${CHROMIUM_PATH} is missing: apt-get install -y --no-install-recommends chromium`);
  redis = sharedRedis();
  postgres = await sharedPostgres();
  db = createDb(postgres.url, { maxConnections: 3 });
  viewer = await addAccount(db, 'e2e-viewer', 'viewer');
  admin = await addAccount(db, 'e2e-admin', 'admin');
  stack = await startStack(redis, { db });
  const port = await freePort();
  await stack.app.listen({ host: '127.0.0.1', port });
  baseUrl = `http://127.0.0.1:${port}`;
  const email = stack.client.getQueue('email');
  const worker = startWorker(stack.config, 'email', async () => {
    throw new Error('SMTP 550: mailbox unavailable');
  });
  jobId = (await email.add('verify', { userId: 'e2e-roles' }, { attempts: 1 })).id!;
  await waitFor(async () => (await email.getJobState(jobId)) === 'failed', { what: 'the job to fail' });
  await worker.close();
});

afterAll(async () => {
  await stack?.close();
  await db?.close();
  await postgres?.close();
});

/** The tooltips of the failed job's action buttons (icon buttons: the tooltip shows on hover). */
async function jobActionTooltips(page: Page): Promise<string[]> {
  const actions = page.locator('main ul li button');
  const tooltips: string[] = [];
  for (let i = 0; i < (await actions.count()); i++) {
    await actions.nth(i).hover();
    for (const name of ['Retry', 'Promote', 'Clean', 'Remove', 'Duplicate']) {
      const shown = await page
        .getByText(name, { exact: true })
        .waitFor({ timeout: 300 })
        .then(
          () => true,
          () => false,
        );
      if (shown) tooltips.push(name);
    }
  }
  return tooltips;
}

interface Opened {
  page: Page;
  /** The job card's action buttons, by tooltip. */
  jobActions: string[];
  /** The queue page's buttons (Failed tab) naming an action. */
  queueActions: string[];
  close(): Promise<void>;
}

/** Opens the failed job's page, then its queue's Failed tab, logged in as `account`. */
async function open(account: TestAccount): Promise<Opened> {
  const browser = await launchChromium({ httpCredentials: { username: account.name, password: account.password } });
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  const response = await page.goto(`${baseUrl}/ui/queue/email/${jobId}`);
  expect(response?.status()).toBe(200);
  await page.getByText('SMTP 550: mailbox unavailable').first().waitFor();
  const jobActions = await jobActionTooltips(page);
  await page.goto(`${baseUrl}/ui/queue/email?status=failed`);
  await page.locator(`a[href*="/queue/email/${jobId}"]`).first().waitFor();
  const queueActions = (await page.locator('main button').allInnerTexts())
    .map((text) => text.trim())
    .filter((text) => ACTION_BUTTON.test(text));
  return { page, jobActions, queueActions, close: () => browser.close() };
}

describe('Bull Board per role, in a real browser', () => {
  it("shows an admin the failed job's action buttons", async () => {
    const opened = await open(admin);
    try {
      expect(opened.jobActions).toContain('Retry');
      expect(opened.queueActions.join(' | ')).toMatch(/retry all/i);
    } finally {
      await opened.close();
    }
  }, 60_000);

  it('shows a viewer none, and refuses its direct call to the retry route', async () => {
    const opened = await open(viewer);
    try {
      expect(opened.jobActions).toEqual([]);
      expect(opened.queueActions).toEqual([]);
      // From the page, with its origin and credentials: the call the Retry button would make.
      const answer = await opened.page.evaluate(
        async (url) => {
          const response = await fetch(url, { method: 'PUT' });
          return { status: response.status, body: (await response.json()) as { code: string; message: string } };
        },
        `${baseUrl}/ui/api/queues/email/${encodeURIComponent(jobId)}/retry`,
      );
      expect(answer).toEqual({
        status: 403,
        body: { code: 'ROLE_REQUIRED', message: 'job.retry needs the operator role (this account is viewer)' },
      });
    } finally {
      await opened.close();
    }
    expect(await stack.client.getQueue('email').getJobState(jobId)).toBe('failed');
    expect(await db.audit.page({ limit: 10 })).toEqual([]);
  }, 60_000);
});
