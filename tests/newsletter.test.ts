// The newsletter lane end to end: the API (in this process) against three real worker processes,
// real Redis, PostgreSQL, an SMTP sink that stamps each mail's arrival and a Slack stand-in.
import { createDb, type Db } from '@ceres/db';
import { QueueClient } from '@ceres/queues';
import { waitFor, type ReceivedMail } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../apps/api/src/app';
import { loadApiConfig } from '../apps/api/src/config';
import { createLogger } from '../apps/worker/src/deps/logger';
import { fanOut } from '../apps/worker/src/processors/newsletter/fan-out';
import {
  spawnWorker,
  startPeers,
  stopWorker,
  waitForIdle,
  workerEnv,
  type Peers,
  type WorkerProcess,
} from '../apps/worker/tests/helpers/harness';

const RATE = 100;
const TOKEN = 'newsletter-test-token-0123456789';
let peers: Peers;
let env: Record<string, string>;
let workers: WorkerProcess[] = [];
let api: ReturnType<typeof buildApp>;
let apiQueues: QueueClient;
let apiDb: Db;
let db: Db;

beforeAll(async () => {
  peers = await startPeers();
  env = workerEnv(peers, {
    NEWSLETTER_RATE_PER_SECOND: String(RATE),
    // The throttling test's pause: SMTP names none, the default is 30 s.
    SMTP_THROTTLE_PAUSE_MS: '1000',
    UNSUBSCRIBE_URL: 'https://api.ceres.example/unsubscribe',
    UNSUBSCRIBE_MAILTO: 'unsubscribe@ceres.example',
  });
  workers = [spawnWorker(env), spawnWorker(env), spawnWorker(env)];
  const config = loadApiConfig({ ...env, API_TOKENS: TOKEN, LOG_LEVEL: 'silent', API_RATE_LIMIT_MAX: '1000000' });
  apiQueues = new QueueClient({ config: config.queues, onWarning: () => {} });
  apiDb = createDb(config.databaseUrl);
  db = createDb(peers.postgres.url);
  api = buildApp({ config, queues: apiQueues, db: apiDb });
  await Promise.all([api.ready(), apiQueues.ready(), ...workers.map((worker) => worker.ready)]);
}, 90_000);

afterAll(async () => {
  await Promise.allSettled(workers.map(stopWorker));
  await api?.close();
  await apiQueues?.close();
  await Promise.allSettled([apiDb?.close(), db?.close()]);
  await peers?.close();
}, 60_000);

const headers = { authorization: `Bearer ${TOKEN}` };
async function call(method: 'GET' | 'POST', url: string, payload?: unknown) {
  const response = await api.inject({
    method,
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
  if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  return response.json() as Record<string, unknown>;
}

/** A campaign of `count` recipients `<label>-<i>@example.com`, added 1,000 per call; not started. */
async function campaign(label: string, count: number, content: Record<string, string> = {}): Promise<string> {
  const { campaignId } = await call('POST', '/campaigns', {
    subject: `${label} for {{firstName}}`,
    text: 'Hola {{firstName}}. Baja: {{unsubscribeUrl}}',
    ...content,
  });
  const all = Array.from({ length: count }, (_, i) => ({
    userId: `${label}-${i}`,
    email: `${label}-${i}@example.com`,
    firstName: `Name ${i}`,
  }));
  for (let i = 0; i < all.length; i += 1000)
    await call('POST', `/campaigns/${campaignId}/recipients`, { recipients: all.slice(i, i + 1000) });
  return campaignId as string;
}

/** The arrival times and recipients of the mails to `<label>-…` so far (kept even before parsing). */
function arrivals(label: string): Array<{ to: string; at: number }> {
  const found: Array<{ to: string; at: number }> = [];
  peers.smtp.recipients.forEach((to, i) => {
    if (to[0]?.startsWith(`${label}-`)) found.push({ to: to[0], at: peers.smtp.receivedAt[i]! });
  });
  return found;
}

const status = (id: string) => call('GET', `/campaigns/${id}`);
const finished = (id: string, state = 'done') =>
  waitFor(async () => ((await status(id)).state === state && (await status(id)).pending === 0 ? status(id) : undefined), {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: `campaign ${id} to be ${state}`,
  });
const summaries = (id: string) => peers.slack.requests.filter((request) => JSON.stringify(request.body).includes(id));

/** The largest number of timestamps within any 1-s window [t, t + 1000). */
function largestSlidingSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let start = 0, end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= 1000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

describe('a 2,000-recipient campaign at NEWSLETTER_RATE_PER_SECOND=100 with three workers', () => {
  it(
    'delivers each mail once, at most 100/s on average and 200 in any second, and a verify mail still goes out within 2 s',
    { timeout: 120_000 },
    async () => {
      const id = await campaign('big', 2000);
      await call('POST', `/campaigns/${id}/start`);

      // Mid-campaign, an account mail: its own queue, so the campaign's backlog does not delay it.
      await waitFor(() => arrivals('big').length >= 500, { timeoutMs: 30_000, what: '500 campaign mails' });
      await db.tokens.insert({ token: 'mid-campaign-token', userId: 'verify-user', expiresAt: new Date(Date.now() + 3_600_000) });
      const enqueuedAt = Date.now();
      await apiQueues.enqueue('email/verify', {
        userId: 'verify-user',
        email: 'verify-user@example.com',
        firstName: 'Vera',
        token: 'mid-campaign-token',
      });
      const verifyArrival = await waitFor(() => peers.smtp.recipients.findIndex((to) => to[0] === 'verify-user@example.com') + 1, {
        timeoutMs: 5_000,
        what: 'the verify mail',
      });
      const verifyLatency = peers.smtp.receivedAt[verifyArrival - 1]! - enqueuedAt;
      expect(verifyLatency).toBeLessThan(2_000);
      expect(arrivals('big').length, 'the verify mail went out while the campaign was still sending').toBeLessThan(2000);

      const figures = await finished(id);
      expect(figures).toMatchObject({ state: 'done', total: 2000, sent: 2000, failed: 0, pending: 0, unsubscribed: 0, cancelled: 0 });
      const mails = arrivals('big');
      expect(mails).toHaveLength(2000);
      expect(new Set(mails.map((mail) => mail.to)).size).toBe(2000);

      const times = mails.map((mail) => mail.at).sort((a, b) => a - b);
      const spanS = (times.at(-1)! - times[0]!) / 1000;
      // 2,000 mails take at least 20 windows of 1 s; the span from the first mail to the last covers
      // 19 of them plus the last. The 1 % allows for the SMTP round trip of the first mail vs the last.
      const average = mails.length / (spanS + 1);
      console.info(
        `newsletter at ${RATE}/s: ${mails.length} mails in ${spanS.toFixed(2)} s, average ${average.toFixed(1)}/s, largest sliding second ${largestSlidingSecond(times)}, verify mail ${verifyLatency} ms`,
      );
      expect(average).toBeLessThanOrEqual(RATE * 1.01);
      expect(largestSlidingSecond(times)).toBeLessThanOrEqual(2 * RATE);

      // Exactly one summary, across three workers, with the figures.
      await waitFor(() => summaries(id).length >= 1, { timeoutMs: 10_000, what: 'the campaign summary' });
      // No send left to finish the campaign again, and every alert enqueued has been posted.
      await waitForIdle(apiQueues.getQueue('newsletter'));
      await waitForIdle(apiQueues.getQueue('slack'));
      expect(summaries(id)).toHaveLength(1);
      expect(JSON.stringify(summaries(id)[0]!.body)).toMatch(/is done: 2,000 recipients, 2,000 sent, 0 failed, 0 unsubscribed/);
    },
  );
});

describe('the SMTP server throttles mid-campaign', () => {
  it(
    'answers 421 for 5 s: no dead letter, every mail delivered once, no attempt used by the throttling',
    { timeout: 120_000 },
    async () => {
      const id = await campaign('throttled', 600);
      await call('POST', `/campaigns/${id}/start`);
      await waitFor(() => arrivals('throttled').length >= 100, { timeoutMs: 30_000, what: '100 mails' });
      const from = Date.now();
      peers.smtp.throttle({ code: 421, message: '4.7.0 Too many messages, slow down', forMs: 5_000 });
      const figures = await finished(id);
      expect(figures).toMatchObject({ state: 'done', total: 600, sent: 600, failed: 0, pending: 0 });
      const mails = arrivals('throttled');
      expect(mails).toHaveLength(600);
      expect(new Set(mails.map((mail) => mail.to)).size).toBe(600);
      // The throttle happened, and nothing arrived in its window.
      expect(peers.smtp.throttled.filter((refusal) => refusal.at >= from).length).toBeGreaterThan(0);
      expect(mails.filter((mail) => mail.at > from + 200 && mail.at < from + 5_000)).toEqual([]);
      expect(await db.failedJobs.list({ queue: 'newsletter' })).toEqual([]);
      const sends = apiQueues.getQueue('newsletter');
      const attempts = await Promise.all(
        mails.map(async ({ to }) => (await sends.getJob(`newsletter:send:${id}.${to.split('@')[0]}`))?.attemptsMade),
      );
      expect(new Set(attempts)).toEqual(new Set([1]));
    },
  );
});

describe('cancel', () => {
  it('stops the campaign: at most one second of mails after it, state cancelled, one summary', { timeout: 90_000 }, async () => {
    const id = await campaign('cancel', 2000);
    await call('POST', `/campaigns/${id}/start`);
    await waitFor(() => arrivals('cancel').length >= 300, { timeoutMs: 30_000, what: '300 mails' });
    const cancelAt = Date.now();
    expect(await call('POST', `/campaigns/${id}/cancel`)).toEqual({ campaignId: id, state: 'cancelled' });
    const figures = await finished(id, 'cancelled');
    // Nothing arrives any more once no send is left to run: then count.
    await waitForIdle(apiQueues.getQueue('newsletter'));
    const mails = arrivals('cancel');
    const late = mails.filter((mail) => mail.at > cancelAt).length;
    expect(late).toBeLessThanOrEqual(RATE);
    expect(mails.length).toBeLessThan(2000);
    expect(new Set(mails.map((mail) => mail.to)).size).toBe(mails.length);
    const after = await status(id);
    expect(after).toMatchObject({ state: 'cancelled', total: 2000, pending: 0, failed: 0 });
    expect(after.sent).toBe(mails.length);
    expect((after.sent as number) + (after.cancelled as number)).toBe(2000);
    expect(figures.state).toBe('cancelled');
    // The cancel removed the waiting sends: the queue is free for the next campaign at once.
    await waitFor(async () => (await apiQueues.getQueue('newsletter').getJobCounts('prioritized', 'wait')).prioritized === 0, {
      what: 'no send left waiting',
    });
    await waitFor(() => summaries(id).length >= 1, { timeoutMs: 10_000, what: 'the summary' });
    await waitForIdle(apiQueues.getQueue('slack'));
    expect(summaries(id)).toHaveLength(1);
    expect(JSON.stringify(summaries(id)[0]!.body)).toMatch(/was cancelled/);
  });
});

describe('unsubscribe', () => {
  const header = (mail: ReceivedMail, name: string) =>
    mail.parsed.headerLines
      .find((line) => line.key === name)
      ?.line.replace(/^[^:]+:\s*/, '')
      .replace(/\r?\n\s+/g, ' ');

  it('through the one-click URL of a received mail; a second campaign skips that user', { timeout: 60_000 }, async () => {
    const first = await campaign('unsub', 3);
    await call('POST', `/campaigns/${first}/start`);
    await finished(first);
    const mail = await waitFor(() => peers.smtp.messages.find((message) => message.envelope.to[0] === 'unsub-1@example.com'), {
      what: 'the mail',
    });
    expect(header(mail, 'list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const listUnsubscribe = header(mail, 'list-unsubscribe')!;
    const [https, mailto] = [...listUnsubscribe.matchAll(/<([^>]+)>/g)].map((match) => match[1]!);
    expect(https).toMatch(/^https:\/\/api\.ceres\.example\/unsubscribe\?t=/);
    expect(mailto).toMatch(/^mailto:unsubscribe@ceres\.example\?subject=unsubscribe%20/);
    // The body's {{unsubscribeUrl}} is the same link.
    expect(mail.parsed.text).toContain(https);

    // What a mail client does (RFC 8058): POST the URL with this form body, no credentials.
    const url = new URL(https!);
    const oneClick = await api.inject({
      method: 'POST',
      url: `${url.pathname}${url.search}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(oneClick.statusCode, oneClick.body).toBe(200);

    const second = await campaign('unsub', 3, { subject: 'Second for {{firstName}}' });
    await call('POST', `/campaigns/${second}/start`);
    expect(await finished(second)).toMatchObject({ total: 3, sent: 2, unsubscribed: 1 });
    const toUnsubscribed = peers.smtp.recipients.filter((to) => to[0] === 'unsub-1@example.com');
    expect(toUnsubscribed).toHaveLength(1);
  });
});

describe('templates', () => {
  it('fills in firstName and unsubscribeUrl only, HTML-escaped in html, as is in text', { timeout: 30_000 }, async () => {
    const { campaignId } = await call('POST', '/campaigns', {
      subject: 'Hola {{firstName}}',
      text: 'Hola {{firstName}}, {{unsubscribeUrl}}',
      html: '<p>Hola {{firstName}}</p><a href="{{unsubscribeUrl}}">baja</a>',
    });
    const firstName = '<script>alert(1)</script> & "Ana" {{unsubscribeUrl}}';
    await call('POST', `/campaigns/${campaignId}/recipients`, { recipients: [{ userId: 'tpl-1', email: 'tpl-1@example.com', firstName }] });
    await call('POST', `/campaigns/${campaignId}/start`);
    await finished(campaignId as string);
    const mail = await waitFor(() => peers.smtp.messages.find((message) => message.envelope.to[0] === 'tpl-1@example.com'), {
      what: 'the mail',
    });
    expect(mail.parsed.subject).toBe(`Hola ${firstName}`);
    expect(mail.parsed.text).toMatch(
      /^Hola <script>alert\(1\)<\/script> & "Ana" \{\{unsubscribeUrl\}\}, https:\/\/api\.ceres\.example\/unsubscribe\?t=/,
    );
    const html = String(mail.parsed.html);
    expect(html).toContain('<p>Hola &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Ana&quot; {{unsubscribeUrl}}</p>');
    expect(html).not.toContain('<script>');
    expect(html).toMatch(/<a href="https:\/\/api\.ceres\.example\/unsubscribe\?t=[^"]+">baja<\/a>/);
    expect(mail.parsed.headers.get('bcc')).toBeUndefined();
  });
});

describe('a fan-out interrupted and run again', () => {
  it('mails nobody twice', { timeout: 90_000 }, async () => {
    const id = await campaign('refan', 1500);
    // Started in PostgreSQL only; the first fan-out runs here and dies after its second page.
    expect(await db.newsletter.start(id)).toMatchObject({ changed: true });
    const worker = new QueueClient({
      config: loadApiConfig({ ...env, API_TOKENS: TOKEN }).queues,
      allowReservedKeys: true,
      onWarning: () => {},
    });
    try {
      let pages = 0;
      const interrupted = {
        db,
        queues: {
          enqueue: worker.enqueue.bind(worker),
          getQueue: worker.getQueue.bind(worker),
          enqueueBulk: (async (...args: Parameters<QueueClient['enqueueBulk']>) => {
            if (++pages > 2) throw new Error('worker killed');
            return worker.enqueueBulk(...args);
          }) as QueueClient['enqueueBulk'],
        },
      };
      const ctx = { logger: createLogger('silent'), signal: new AbortController().signal, tenant: 'default' };
      const job = { data: { campaignId: id }, updateProgress: async () => {} } as unknown as Parameters<typeof fanOut>[0];
      await expect(fanOut(job, interrupted, ctx)).rejects.toThrow('worker killed');
      await waitFor(() => arrivals('refan').length >= 100, { timeoutMs: 20_000, what: 'the first mails' });
      expect((await status(id)).pending).toBeGreaterThan(500);

      // Run again, the ordinary way: start on a sending campaign runs the fan-out again.
      await call('POST', `/campaigns/${id}/start`);
      expect(await finished(id)).toMatchObject({ total: 1500, sent: 1500 });
      const fanOutJob = await apiQueues.getQueue('newsletter').getJob(`newsletter:fan-out:${id}`);
      const result = fanOutJob!.returnvalue as { enqueued: number; duplicates: number };
      expect(result.enqueued + result.duplicates).toBeLessThanOrEqual(1500);
      expect(result.enqueued).toBeGreaterThanOrEqual(500);
      const mails = arrivals('refan');
      expect(mails).toHaveLength(1500);
      expect(new Set(mails.map((mail) => mail.to)).size).toBe(1500);
    } finally {
      await worker.close();
    }
  });
});
