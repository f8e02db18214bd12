import pg from 'pg';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../apps/queues-ui/src/app';
import { createWorkerApp } from '../apps/worker/src/app';
import { createLogger } from '../apps/worker/src/deps/logger';
import { processors } from '../apps/worker/src/processors';
import { configFor, useTestBed, waitForState, workerEnv } from '../apps/worker/tests/helpers/harness';

const bed = useTestBed();

/** One query through a connection of its own (the stores have no such reads). */
async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: bed.peers.postgres.url });
  await client.connect();
  try {
    return await client.query<R>(text, params);
  } finally {
    await client.end();
  }
}
const DAY = 86_400_000;
const HOUR = 3_600_000;

const row = (userId: string, jobId: string, failedAt: Date) => ({
  queue: 'email',
  jobName: 'welcome',
  jobId,
  payload: { userId, email: 'enc:v1:xx', firstName: 'enc:v1:yy' },
  error: 'permanent SMTP 550: r***@example.com rejected',
  attemptsMade: 1,
  failedAt,
});

describe('FAILED_JOBS_RETENTION_DAYS', () => {
  it('the purge cron deletes the failed_jobs rows older than the retention, and only those', async () => {
    const env = workerEnv(bed.peers, { FAILED_JOBS_RETENTION_DAYS: '7' });
    expect(configFor(workerEnv(bed.peers)).failedJobsRetentionDays).toBe(30);
    expect(() => configFor({ ...env, FAILED_JOBS_RETENTION_DAYS: '0' })).toThrow(/^FAILED_JOBS_RETENTION_DAYS/);
    const now = Date.now();
    await bed.db.failedJobs.archive(row('ret-old', 'email:welcome:ret-old', new Date(now - 8 * DAY)));
    await bed.db.failedJobs.archive(row('ret-edge', 'email:welcome:ret-edge', new Date(now - 7 * DAY - HOUR)));
    await bed.db.failedJobs.archive(row('ret-young', 'email:welcome:ret-young', new Date(now - 6 * DAY)));
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent'), schedulers: false });
    bed.apps.push(app);
    await app.started;
    // The cron's tick is one job of the scheduled type; run one now.
    const queue = app.deps.queues.getQueue('maintenance');
    const tick = await queue.add('purge-failed-jobs', {});
    const job = await waitForState(queue, tick.id!, 'completed');
    expect(job.returnvalue).toMatchObject({ purged: 2 });
    const left = (await bed.db.failedJobs.list({ queue: 'email' })).map((found) => found.jobId);
    expect(left).toContain('email:welcome:ret-young');
    expect(left).not.toContain('email:welcome:ret-old');
    expect(left).not.toContain('email:welcome:ret-edge');
    expect(app.runner.queues).toContain('maintenance');
    expect(configFor(env).schedules).toContainEqual({ queue: 'maintenance', job: 'purge-failed-jobs', pattern: '30 3 * * *' });
  });
});

describe('erasing a user', () => {
  it('POST /api/erasure removes exactly their jobs (every queue and state), failed_jobs rows and tokens, answers the counts and logs no data', async () => {
    const env = workerEnv(bed.peers);
    const producer = bed.producer(env);
    const target = 'erase-me';
    const other = 'keep-me';
    for (const userId of [target, other]) {
      await bed.db.tokens.insert({ token: `${userId}-token-aaaaaa`, userId, expiresAt: new Date(Date.now() + HOUR) });
      await bed.db.tokens.insert({ token: `${userId}-token-bbbbbb`, userId, expiresAt: new Date(Date.now() + HOUR) });
      await bed.db.failedJobs.archive(row(userId, `email:welcome:${userId}`, new Date(Date.now() - DAY)));
      // Waiting (no worker yet), delayed, and files jobs keyed by file, not by user.
      await producer.enqueue('email/verify', { userId, email: `${userId}@example.com`, firstName: 'X', token: `${userId}-token-aaaaaa` });
      await producer.enqueue('email/welcome', { userId, email: `${userId}@example.com`, firstName: 'X' }, { delay: 600_000 });
      await producer.enqueue('files/validate-cv', { userId, fileKey: `cv/${userId}.pdf` });
      await producer.enqueue('files/optimize-profile-picture', { userId, fileKey: `pictures/${userId}.png` }, { delay: 600_000 });
    }
    // Both in a campaign that is sending (only the target pending: its erasure must close it), the
    // target also opted out of another.
    const store = bed.db.newsletter;
    const sending = await store.createCampaign({ subject: 'Hola {{firstName}}', text: 'Baja: {{unsubscribeUrl}}', html: null });
    await store.addRecipients(
      sending,
      [target, other].map((userId) => ({ userId, email: `${userId}@example.com`, firstName: `First ${userId}` })),
    );
    await store.start(sending);
    await store.recordOutcome(sending, other, 'sent', { messageId: '<m@ceres>' });
    const draft = await store.createCampaign({ subject: 'Otra', text: 'Baja: {{unsubscribeUrl}}', html: null });
    await store.addRecipients(
      draft,
      [target, other].map((userId) => ({ userId, email: `${userId}@example.com`, firstName: `First ${userId}` })),
    );
    expect(await store.unsubscribe(draft, target)).toBe('recorded');
    // A completed job of each, through the real worker (the email queue only: the verify mail goes out).
    const app = createWorkerApp({
      config: configFor(env),
      logger: createLogger('silent'),
      processors: { email: processors.email },
      schedulers: false,
    });
    bed.apps.push(app);
    await app.started;
    const email = producer.getQueue('email');
    await waitForState(email, `email:verify:${target}`, 'completed');
    await waitForState(email, `email:verify:${other}`, 'completed');
    await app.stop();

    const lines: string[] = [];
    const ui = buildApp({
      client: producer,
      auth: { user: 'ops', pass: 'correct horse battery staple' },
      erasureDb: bed.db,
      logger: { level: 'info', stream: new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }) },
    });
    await ui.ready();
    try {
      const headers = {
        authorization: `Basic ${Buffer.from('ops:correct horse battery staple').toString('base64')}`,
        'content-type': 'application/json',
      };
      const answer = await ui.inject({ method: 'POST', url: '/api/erasure', headers, payload: { userId: target } });
      expect(answer.statusCode, answer.body).toBe(200);
      expect(answer.json()).toEqual({
        success: true,
        jobs: 4,
        jobsByQueue: { email: 2, files: 2, maintenance: 0, newsletter: 0, slack: 0 },
        jobsStillRunning: 0,
        failedJobs: 1,
        tokens: 2,
        newsletterRecipients: 2,
        newsletterOptOuts: 1,
        // The verify mail the worker sent for them above.
        sentMails: 1,
        // Its job's row in the job ledger (the worker's stop wrote it).
        ledgerRows: 1,
      });
      // The newsletter rows keep no address or name of theirs; the other user's are untouched; the
      // opt-out holds by user id; the campaign left with nobody pending is closed by a finish job.
      const { rows } = await sql<{ user_id: string; email: string; first_name: string; status: string }>(
        'SELECT user_id, email, first_name, status FROM newsletter_recipients WHERE campaign_id = ANY($1) ORDER BY campaign_id, user_id',
        [[sending, draft]],
      );
      expect(rows.filter((r) => r.user_id === target).map((r) => [r.email, r.first_name])).toEqual([
        ['', ''],
        ['', ''],
      ]);
      expect(rows.filter((r) => r.user_id === other).map((r) => r.email)).toEqual([`${other}@example.com`, `${other}@example.com`]);
      expect((await store.sendContext(sending, target))?.status).toBe('cancelled');
      expect((await store.sendContext(draft, target))?.unsubscribed).toBe(true);
      const optOuts = await sql<{ email: string }>('SELECT email FROM newsletter_unsubscribes WHERE user_id = $1', [target]);
      // A keyed digest of the address (`erased:<key version>:<HMAC-SHA-256>`), not an unsalted hash (issue 24 item 15).
      expect(optOuts.rows.map((r) => r.email)).toEqual([expect.stringMatching(/^erased:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{43}$/)]);
      expect(await producer.getQueue('newsletter').getJob(`newsletter:finish:${sending}`)).toBeDefined();
      for (const table of ['newsletter_recipients', 'newsletter_unsubscribes']) {
        expect(JSON.stringify((await sql(`SELECT * FROM ${table}`)).rows), table).not.toContain(`${target}@example.com`);
      }
      // Nothing of theirs is left; everything of the other user is.
      for (const [queue, id] of [
        ['email', `email:verify:USER`],
        ['email', `email:welcome:USER`],
        ['files', `files:validate-cv:cv/USER.pdf`],
        ['files', `files:optimize-profile-picture:pictures/USER.png`],
      ] as const) {
        expect(await producer.getQueue(queue).getJob(id.replace('USER', target)), id).toBeUndefined();
        expect(await producer.getQueue(queue).getJob(id.replace('USER', other)), id).toBeDefined();
      }
      expect(await bed.db.failedJobs.list({ queue: 'email', jobId: `email:welcome:${target}` })).toEqual([]);
      expect(await bed.db.failedJobs.list({ queue: 'email', jobId: `email:welcome:${other}` })).toHaveLength(1);
      expect(await bed.db.tokens.find(`${target}-token-aaaaaa`)).toBeNull();
      expect(await bed.db.tokens.find(`${other}-token-bbbbbb`)).not.toBeNull();
      // Erasing again finds nothing.
      const again = await ui.inject({ method: 'POST', url: '/api/erasure', headers, payload: { userId: target } });
      expect(again.json()).toMatchObject({
        jobs: 0,
        failedJobs: 0,
        tokens: 0,
        newsletterRecipients: 0,
        newsletterOptOuts: 0,
        sentMails: 0,
      });

      const logs = lines.join('');
      expect(logs).toContain('user data erased');
      expect(logs).not.toContain(target);

      const bad = await ui.inject({ method: 'POST', url: '/api/erasure', headers, payload: { userId: '' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ field: 'userId' });
      const badTenant = await ui.inject({
        method: 'POST',
        url: '/api/erasure',
        headers,
        payload: { userId: target, tenant: 'Not A Tenant' },
      });
      expect(badTenant.statusCode).toBe(400);
      expect(badTenant.json()).toMatchObject({ field: 'tenant' });

      // A user id is one tenant's: erasing another tenant's user with the same id leaves this one alone, and back.
      await producer.enqueue(
        'email/welcome',
        { userId: other, email: `${other}@example.com`, firstName: 'X' },
        { tenant: 'acme', delay: 600_000 },
      );
      const acme = await ui.inject({ method: 'POST', url: '/api/erasure', headers, payload: { userId: other, tenant: 'acme' } });
      expect(acme.statusCode, acme.body).toBe(200);
      expect(acme.json()).toMatchObject({ jobs: 1, jobsByQueue: { email: 1 } });
      expect(await producer.getQueue('email').getJob(`acme@email:welcome:${other}`)).toBeUndefined();
      expect(await producer.getQueue('email').getJob(`email:welcome:${other}`)).toBeDefined();
    } finally {
      await ui.close();
    }

    const withoutDb = buildApp({ client: producer, auth: { user: 'ops', pass: 'correct horse battery staple' } });
    try {
      const headers = {
        authorization: `Basic ${Buffer.from('ops:correct horse battery staple').toString('base64')}`,
        'content-type': 'application/json',
      };
      const refused = await withoutDb.inject({ method: 'POST', url: '/api/erasure', headers, payload: { userId: other } });
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ code: 'ERASURE_UNAVAILABLE' });
      expect(await producer.getQueue('email').getJob(`email:welcome:${other}`)).toBeDefined();
    } finally {
      await withoutDb.close();
    }
  }, 60_000);
});
