import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, sharedRedis, waitFor, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, hasChromium, launchChromium } from './helpers/chromium';
import { AUTH, startStack, startWorker, type Stack } from './helpers/stack';

const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const SCREENSHOT = `${ARTIFACTS}queues-ui-retry.png`;

let redis: RedisPeer;
let stack: Stack;
let baseUrl: string;

beforeAll(async () => {
  if (!hasChromium()) {
    // .ci/run and `npm test` install it (scripts/ensure-system-deps.mjs); say so instead of skipping.
    throw new Error(`${CHROMIUM_PATH} is missing: apt-get install -y --no-install-recommends chromium`);
  }
  redis = sharedRedis();
  stack = await startStack(redis);
  const port = await freePort();
  await stack.app.listen({ host: '127.0.0.1', port });
  baseUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await stack?.close();
});

describe('Bull Board in a real browser', () => {
  it('logs in, shows the four queues, opens a failed job and retries it', async () => {
    const email = stack.client.getQueue('email');
    const worker = startWorker(stack.config, 'email', async () => {
      throw new Error('SMTP 550: mailbox unavailable');
    });
    const job = await email.add('verify', { userId: 'e2e-user' }, { attempts: 1 });
    await waitFor(async () => (await email.getJobState(job.id!)) === 'failed', { what: 'the job to fail' });
    await worker.close();

    const browser = await launchChromium({ httpCredentials: { username: AUTH.user, password: AUTH.pass } });
    try {
      const page = await browser.context.newPage();
      page.setDefaultTimeout(10_000);
      const home = await page.goto(`${baseUrl}/ui`);
      expect(home?.status()).toBe(200);

      const nav = page.locator('nav');
      for (const name of ['email', 'slack', 'maintenance', 'files']) {
        await nav.getByRole('link', { name, exact: true }).waitFor({ state: 'visible' });
      }
      await nav.getByRole('link', { name: 'email', exact: true }).click();
      await page.getByRole('link', { name: /^FAILED/ }).click();
      await page.locator(`a[href*="/queue/email/${job.id}"]`).first().click();
      await page.waitForURL(new RegExp(`/ui/queue/email/${job.id}`));
      // Inspect: the reason and stack trace are on the page.
      await page.getByText('SMTP 550: mailbox unavailable').first().waitFor();

      // The job's actions are icon buttons; the one whose tooltip reads "Retry" is the one.
      const actions = page.locator('main ul li button');
      let retry = undefined as undefined | ReturnType<typeof actions.nth>;
      for (let i = 0; i < (await actions.count()); i++) {
        await actions.nth(i).hover();
        const tooltip = page.getByText('Retry', { exact: true });
        if (
          await tooltip.waitFor({ timeout: 1500 }).then(
            () => true,
            () => false,
          )
        ) {
          retry = actions.nth(i);
          break;
        }
      }
      expect(retry, 'a job action with the tooltip "Retry"').toBeDefined();
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: SCREENSHOT });

      await retry!.click();
      const confirmed = page.waitForResponse(
        (response) => response.request().method() === 'PUT' && response.url().endsWith(`/ui/api/queues/email/${job.id}/retry`),
      );
      await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
      expect((await confirmed).status()).toBe(204);
    } finally {
      await browser.close();
    }

    await waitFor(async () => (await email.getJobState(job.id!)) !== 'failed', { what: 'the job to leave the failed state' });
    expect(await email.getJobState(job.id!)).toBe('waiting');
    expect(await email.getFailedCount()).toBe(0);
  }, 60_000);
});
