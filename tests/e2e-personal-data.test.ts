import { decryptPayload } from '@ceres/queues';
import { freePort, sharedRedis, startSmtpSink, waitFor, type RedisPeer, type SmtpSink } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The worker's own mailer: its error text is what the job's failedReason carries.
import { createMailer } from '../apps/worker/src/deps/mailer';
import { CHROMIUM_PATH, hasChromium, launchChromium } from '../apps/queues-ui/tests/helpers/chromium';
import { AUTH, startStack, startWorker, type Stack } from '../apps/queues-ui/tests/helpers/stack';

let redis: RedisPeer;
let smtp: SmtpSink;
let stack: Stack;
let baseUrl: string;

beforeAll(async () => {
  if (!hasChromium()) throw new Error(`${CHROMIUM_PATH} is missing: apt-get install -y --no-install-recommends chromium`);
  redis = sharedRedis();
  smtp = await startSmtpSink();
  stack = await startStack(redis);
  const port = await freePort();
  await stack.app.listen({ host: '127.0.0.1', port });
  baseUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await stack?.close();
  await smtp?.close();
});

const ADDRESS = 'juan.reject@example.com';
const TOKEN = 'live-token-6f1d9c2ab7e4';
const NAME = 'Juanfirstname';

describe('personal data in Bull Board (real Chromium)', () => {
  it('the Data and Error tabs of a failed verify job show no token and no full address', async () => {
    smtp.setRules([{ match: /^(juan\.reject|maria\.old)@/, code: 550 }]);
    const mailer = createMailer({ smtpUrl: `${smtp.url}?pool=false`, outboxDir: 'unused', from: 'Ceres <no-reply@ceres.example>' });
    const email = stack.client.getQueue('email');
    const worker = startWorker(stack.config, 'email', async (job) => {
      const data = decryptPayload(stack.config.keyring, 'email/verify', ['email', 'firstName', 'token'], job.data) as {
        email: string;
        token: string;
      };
      await mailer.send({ to: data.email, subject: 'Confirm', text: `token=${data.token}`, html: '<p>x</p>' });
    });
    const { jobId } = await stack.client.enqueue('email/verify', { userId: 'ui-user', email: ADDRESS, firstName: NAME, token: TOKEN });
    // A job written before encryption (plaintext fields): masked all the same.
    const old = await email.add(
      'welcome',
      { userId: 'old-user', email: 'maria.old@example.org', firstName: 'Mariaoldname' },
      { attempts: 1, jobId: 'email:welcome:old-user' },
    );
    await waitFor(async () => (await email.getJobState(jobId)) === 'failed' && (await email.getJobState(old.id!)) === 'failed', {
      what: 'the jobs to fail',
    });
    await worker.close();
    mailer.close();
    const failed = (await email.getJob(jobId))!;
    expect(failed.failedReason).toMatch(/^permanent SMTP 550: .*j\*\*\*@example\.com/);
    expect(failed.failedReason).not.toContain(ADDRESS);

    const browser = await launchChromium({ httpCredentials: { username: AUTH.user, password: AUTH.pass } });
    try {
      const page = await browser.context.newPage();
      page.setDefaultTimeout(10_000);
      const seen: string[] = [];
      // Everything Bull Board's API hands the page, whichever tab shows it.
      page.on('response', (response) => {
        if (response.url().includes('/ui/api/'))
          void response.text().then(
            (text) => seen.push(text),
            () => {},
          );
      });
      for (const [id, secrets] of [
        [jobId, [ADDRESS, TOKEN, NAME]],
        [old.id!, ['maria.old@example.org', 'Mariaoldname']],
      ] as const) {
        await page.goto(`${baseUrl}/ui/queue/email/${encodeURIComponent(id)}?status=failed`);
        await page
          .getByRole('tab', { name: 'Data' })
          .or(page.getByText('Data', { exact: true }))
          .first()
          .click();
        const main = page.locator('main');
        await main.getByText('userId').first().waitFor();
        const dataText = await main.innerText();
        if (id === jobId) {
          expect(dataText).toMatch(/\[encrypted, key test1\]/);
          expect(dataText).not.toContain('$digest');
        } else {
          expect(dataText).toContain('m***@example.org');
          expect(dataText).toContain('[hidden]');
        }
        await page
          .getByRole('tab', { name: 'Error' })
          .or(page.getByText('Error', { exact: true }))
          .first()
          .click();
        await main
          .getByText(/SMTP 550|permanent|Error/)
          .first()
          .waitFor();
        const errorText = await main.innerText();
        for (const secret of secrets) {
          expect(dataText, `Data tab of ${id}`).not.toContain(secret);
          expect(errorText, `Error tab of ${id}`).not.toContain(secret);
        }
      }
      // The Latest, Completed and Failed lists go through the same formatters.
      for (const status of ['latest', 'failed', 'completed']) {
        await page.goto(`${baseUrl}/ui/queue/email?status=${status}`);
        await page.locator('main').first().waitFor();
        await page.waitForLoadState('networkidle');
      }
      expect(seen.length).toBeGreaterThan(3);
      for (const secret of [ADDRESS, TOKEN, NAME, 'maria.old@example.org', 'Mariaoldname']) {
        expect(seen.filter((text) => text.includes(secret)).length, secret).toBe(0);
      }
    } finally {
      await browser.close();
    }
  }, 90_000);
});
