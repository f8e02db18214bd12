import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, sharedRedis, waitFor, type RedisPeer } from '@ceres/testing';
import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, hasChromium, launchChromium } from './helpers/chromium';
import { startNginx, type Nginx } from './helpers/nginx';
import { AUTH, basic, startStack, startWorker, type Stack } from './helpers/stack';

const DOC = fileURLToPath(new URL('../../../docs/queues-ui.md', import.meta.url));

/** The nginx block of docs/queues-ui.md, split into its http part (the map) and its server part. */
function documentedNginx(upstreamPort: number): { http: string; server: string } {
  const doc = readFileSync(DOC, 'utf8');
  const section = doc.slice(doc.indexOf('## Behind a reverse proxy under a sub-path'));
  const block = /```nginx\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('docs/queues-ui.md has no nginx block under "Behind a reverse proxy under a sub-path"');
  const withPort = block.replaceAll('127.0.0.1:3050', `127.0.0.1:${upstreamPort}`);
  const http = /^map [\s\S]*?^}/m.exec(withPort)?.[0];
  const server = /^location [\s\S]*?^}/m.exec(withPort)?.[0];
  if (!http || !server) throw new Error('the documented nginx block must hold one map {} and one location {}');
  return { http, server };
}

let redis: RedisPeer;
let stack: Stack;
let nginx: Nginx;

beforeAll(async () => {
  if (!hasChromium()) throw new Error(`${CHROMIUM_PATH} is missing: apt-get install -y --no-install-recommends chromium`);
  redis = sharedRedis();
  stack = await startStack(redis, { publicBasePath: '/ops' });
  const port = await freePort();
  await stack.app.listen({ host: '127.0.0.1', port });
  nginx = await startNginx(documentedNginx(port));
});

afterAll(async () => {
  await nginx?.close();
  await stack?.close();
});

describe('Bull Board through the documented nginx under /ops', () => {
  it('opens a files job whose id has "/" and retries it', async () => {
    const files = stack.client.getQueue('files');
    const worker = startWorker(stack.config, 'files', async (job) => {
      throw new UnrecoverableError(`no such upload: ${String(job.data.fileKey)}`);
    });
    const { jobId } = await stack.client.enqueue('files/validate-cv', { userId: 'u1', fileKey: 'cv/u1/2026/cv.pdf' });
    expect(jobId).toBe('files:validate-cv:cv/u1/2026/cv.pdf');
    await waitFor(async () => (await files.getJobState(jobId)) === 'failed', { what: 'the files job to fail' });
    await worker.close();

    // The raw path reaches the app with %2F intact (Bull Board's own API, through nginx).
    const viaProxy = await fetch(`${nginx.url}/ops/ui/api/queues/files/${encodeURIComponent(jobId)}`, {
      headers: { authorization: basic(AUTH.user, AUTH.pass) },
    });
    expect(viaProxy.status, await nginx.errors()).toBe(200);

    const browser = await launchChromium({ httpCredentials: { username: AUTH.user, password: AUTH.pass } });
    try {
      const page = await browser.context.newPage();
      page.setDefaultTimeout(10_000);
      expect((await page.goto(`${nginx.url}/ops/ui`))?.status()).toBe(200);
      await page.locator('nav').getByRole('link', { name: 'files', exact: true }).click();
      await page.getByRole('link', { name: /^FAILED/ }).click();
      await page.locator('main a[href*="/ops/ui/queue/files/"]').first().click();
      await page.waitForURL(/\/ops\/ui\/queue\/files\/.+/);
      await page.getByText('no such upload: cv/u1/2026/cv.pdf').first().waitFor();
      expect(await page.getByText(/job not found/i).count()).toBe(0);

      const actions = page.locator('main ul li button');
      let retry;
      for (let i = 0; i < (await actions.count()); i++) {
        await actions.nth(i).hover();
        if (
          await page
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
      const retried = page.waitForResponse(
        (response) =>
          response.request().method() === 'PUT' &&
          response.url().startsWith(`${nginx.url}/ops/ui/api/queues/files/`) &&
          response.url().endsWith('/retry'),
      );
      await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
      const answer = await retried;
      expect(answer.url()).toContain(encodeURIComponent(jobId));
      expect(answer.status()).toBe(204);
    } finally {
      await browser.close();
    }
    expect(await files.getJobState(jobId)).toBe('waiting');
  }, 60_000);
});
