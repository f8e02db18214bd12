import { TEST_ENCRYPTION_KEYS, waitFor } from '@ceres/testing';
import { JobTimings, parseKeyring, sealTenantSecret, TOKEN_STORES } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
import { createWorkerApp, type WorkerApp } from '../src/app';
import { createLogger } from '../src/deps/logger';
import { upsertJobSchedulers } from '../src/schedulers/job-schedulers';
import { configFor, spawnWorker, waitForState, workerEnv, useTestBed } from './helpers/harness';

const bed = useTestBed();
const logger = createLogger('silent');
const HOUR = 3_600_000;

async function startApp(env: Record<string, string>): Promise<WorkerApp> {
  const app = createWorkerApp({ config: configFor(env), logger, schedulers: false });
  bed.apps.push(app);
  await app.started;
  return app;
}

describe('clean-verification-tokens', () => {
  it('deletes only the expired tokens and returns the count', async () => {
    const env = workerEnv(bed.peers);
    await startApp(env);
    const now = Date.now();
    const tokens = {
      expiredLongAgo: `cleanup-expired-1-${now}`,
      expiredJustNow: `cleanup-expired-2-${now}`,
      valid: `cleanup-valid-1-${now}`,
    };
    await bed.db.tokens.insert({ token: tokens.expiredLongAgo, userId: 'c1', expiresAt: new Date(now - 30 * 24 * HOUR) });
    await bed.db.tokens.insert({ token: tokens.expiredJustNow, userId: 'c2', expiresAt: new Date(now - 1000) });
    await bed.db.tokens.insert({ token: tokens.valid, userId: 'c3', expiresAt: new Date(now + HOUR) });
    const queue = bed.producer(env).getQueue('maintenance');
    const added = await queue.add('clean-verification-tokens', {});
    const job = await waitForState(queue, added.id!, 'completed');
    expect(job.returnvalue).toEqual({
      deleted: 2,
      hashedTokensDeleted: Object.fromEntries(TOKEN_STORES.map((table) => [table, 0])),
      sentMailsDeleted: 0,
    });
    expect(await bed.db.tokens.find(tokens.expiredLongAgo)).toBeNull();
    expect(await bed.db.tokens.find(tokens.expiredJustNow)).toBeNull();
    expect(await bed.db.tokens.find(tokens.valid)).not.toBeNull();
  });
});

describe('daily-report', () => {
  it('reports the figures of the jobs of the last 24 h in Slack and by mail', async () => {
    const env = workerEnv(bed.peers, { REPORT_EMAIL_TO: 'ops@example.com' });
    await startApp(env);
    const queues = bed.producer(env);
    const email = queues.getQueue('email');
    // 3 welcome mails delivered, 1 rejected for good (550), 2 waiting for later.
    bed.peers.smtp.setRules([{ match: /^gone@/, code: 550, message: 'mailbox unavailable' }]);
    const done = await Promise.all(
      [1, 2, 3].map((n) => queues.enqueue('email/welcome', { userId: `report-${n}`, email: `r${n}@example.com`, firstName: 'R' })),
    );
    for (const { jobId } of done) await waitForState(email, jobId, 'completed');
    const gone = await queues.enqueue('email/welcome', { userId: 'report-gone', email: 'gone@example.com', firstName: 'G' });
    await waitForState(email, gone.jobId, 'failed');
    await waitFor(async () => (await bed.db.failedJobs.list({ queue: 'email', jobId: gone.jobId })).length === 1);
    await waitFor(() => bed.peers.slack.requests.length === 1, { what: 'the dead-letter alert' });
    for (const n of [1, 2]) {
      await queues.enqueue('email/welcome', { userId: `later-${n}`, email: 'l@example.com', firstName: 'L' }, { delay: HOUR });
    }
    // A cleanup run that deleted 2 tokens.
    await bed.db.tokens.insert({ token: `report-expired-a-${Date.now()}`, userId: 'x', expiresAt: new Date(Date.now() - HOUR) });
    await bed.db.tokens.insert({ token: `report-expired-b-${Date.now()}`, userId: 'y', expiresAt: new Date(Date.now() - HOUR) });
    const maintenance = queues.getQueue('maintenance');
    const clean = await maintenance.add('clean-verification-tokens', {});
    await waitForState(maintenance, clean.id!, 'completed');

    const report = await maintenance.add('daily-report', {});
    const job = await waitForState(maintenance, report.id!, 'completed');
    expect(job.returnvalue).toMatchObject({ mailed: true });
    const [, posted] = await bed.peers.slack.waitForRequests(2);
    const text = (posted!.body as { text: string }).text;
    expect(text).toContain('Ceres daily report');
    // Fixed-width rows: queue, completed, failed, backlog, wait p95 (of the 24 whole hours before
    // the report's hour: these jobs' waits count only when the test crossed an hour's end).
    expect(text).toMatch(/^email\s+3\s+1\s+2\s+(-|\d+ ms|\d+\.\d s)$/m);
    expect(text).toMatch(/^maintenance\s+1\s+0\s+0\s+(-|\d+ ms|\d+\.\d s)$/m);
    expect(text).toMatch(/^files\s+0\s+0\s+0\s+-$/m);
    expect(text).toContain('Verification tokens cleaned: *2*');
    expect(text).toMatch(/1× email: permanent SMTP 550/);
    expect(text).not.toContain('gone@example.com');
    expect(text).not.toContain('{"');

    const [mail] = await bed.peers.smtp.waitForMessages(4).then((all) => all.filter((m) => m.envelope.to.includes('ops@example.com')));
    expect(mail!.parsed.subject).toMatch(/^Ceres daily report \d{4}-\d{2}-\d{2}$/);
    expect(String(mail!.parsed.html)).toContain('<td style="padding: 2px 10px; text-align: left;">email</td>');
  }, 30_000);
});

describe('daily-report wait p95 (issue 28)', () => {
  it("shows each queue's wait p95 of the 24 whole hours before the report's hour, from the workers' hourly histograms", async () => {
    const env = workerEnv(bed.peers);
    await startApp(env);
    const queues = bed.producer(env);
    await queues.ready();
    const email = queues.getQueue('email');
    const files = queues.getQueue('files');
    const now = Date.now();
    // What worker processes counted and added to Redis (the worker's own JobTimings; the worker's
    // own path to them is tests/job-timings.test.ts): in the email
    // queue 100 waits an hour ago, 95 of 40 ms and 5 of 20 s; in files one of 3 s 23 hours ago
    // and one of 45 minutes 25 hours ago (outside the window); in slack one in the current hour only.
    const timings = new JobTimings();
    for (let n = 0; n < 95; n++) timings.observe(email, 'wait', 'welcome', 'default', 40, now - HOUR);
    for (let n = 0; n < 5; n++) timings.observe(email, 'wait', 'welcome', 'default', 20_000, now - HOUR);
    timings.observe(files, 'wait', 'validate-cv', 'default', 3_000, now - 23 * HOUR);
    timings.observe(files, 'wait', 'validate-cv', 'default', 45 * 60_000, now - 25 * HOUR);
    timings.observe(queues.getQueue('slack'), 'wait', 'alert', 'default', 5_000, now);
    await queues.store.flushJobTimings(timings);

    const maintenance = queues.getQueue('maintenance');
    const added = await maintenance.add('daily-report', {});
    const job = await waitForState(maintenance, added.id!, 'completed');
    const figures = (job.returnvalue as { report: { queues: Array<{ queue: string; waitP95Seconds: number | null }> } }).report.queues;
    const p95 = Object.fromEntries(figures.map((q) => [q.queue, q.waitP95Seconds]));
    // The 95th of 100 is the last of the 95 in the 25–50 ms bucket: its upper bound.
    expect(p95.email).toBeCloseTo(0.05, 6);
    // One wait in the 2.5–5 s bucket: interpolated within it.
    expect(p95.files).toBeGreaterThan(2.5);
    expect(p95.files).toBeLessThanOrEqual(5);
    expect(p95.slack).toBeNull();
    expect(p95.newsletter).toBeNull();
    // This test's report: the one with its figures (another test's may still come in).
    let text = '';
    await waitFor(
      () =>
        bed.peers.slack.requests.some((request) => {
          text = (request.body as { text: string }).text;
          return /^email\s+0\s+\d+\s+0\s+50 ms$/m.test(text);
        }),
      { what: 'the daily report with the email queue wait p95 of 50 ms' },
    );
    expect(text).toMatch(/^queue\s+completed\s+failed\s+backlog\s+wait p95$/m);
    // Failed counts the file's dead-letter archive (shared with the other tests): any number.
    expect(text).toMatch(/^files\s+0\s+\d+\s+0\s+4\.9 s$/m);
    expect(text).toMatch(/^slack\s+\d+\s+0\s+0\s+-$/m);
  }, 30_000);
});

describe('daily-report per tenant (issue 26)', () => {
  it("each tenant with a Slack webhook gets its own figures at its webhook; the platform's report is unchanged, with everyone's", async () => {
    const keyring = parseKeyring(TEST_ENCRYPTION_KEYS);
    const hook = (tenant: string) => sealTenantSecret(keyring, tenant, 'slackWebhookUrl', `${bed.peers.slack.url}/${tenant}-hook`);
    await bed.db.tenants.add('rep-a', { name: 'Villa <A>', slackWebhookUrlSealed: hook('rep-a') });
    await bed.db.tenants.add('rep-b', { name: 'Villa B', slackWebhookUrlSealed: hook('rep-b') });
    // No webhook of its own: no report of its own (its jobs are in the platform's).
    await bed.db.tenants.add('rep-c', { name: 'Villa C' });
    // Disabled: its alert would wait until it is enabled again.
    await bed.db.tenants.add('rep-d', { name: 'Villa D', slackWebhookUrlSealed: hook('rep-d') });
    await bed.db.tenants.setDisabled('rep-d', true);
    const env = workerEnv(bed.peers);
    await startApp(env);
    const queues = bed.producer(env);
    const email = queues.getQueue('email');
    bed.peers.smtp.setRules([{ match: /^gone-/, code: 550, message: 'mailbox unavailable' }]);
    const welcome = (tenant: string, user: string) =>
      queues.enqueue('email/welcome', { userId: `${tenant}-${user}`, email: `${user}-${tenant}@example.com`, firstName: 'R' }, { tenant });
    // a: 2 delivered, 1 rejected for good; b: 1 rejected; c: 1 delivered; default: 1 delivered.
    for (const [tenant, user] of [
      ['rep-a', 'one'],
      ['rep-a', 'two'],
      ['rep-c', 'one'],
      ['default', 'one'],
      ['rep-a', 'gone'],
      ['rep-b', 'gone'],
    ] as const)
      await welcome(tenant, user);
    await waitFor(async () => (await email.getFailedCount()) === 2, { what: 'the two rejected mails' });
    await waitFor(
      async () =>
        (await bed.db.failedJobs.countSinceByTenant(new Date(Date.now() - HOUR), { tenants: ['rep-a', 'rep-b'] }))['rep-b']?.email === 1,
      {
        what: 'the dead letters archived',
      },
    );
    await waitFor(async () => (await email.getCompletedCount()) === 4, { what: 'the four welcome mails' });
    // a's campaign: one newsletter mail sent, one failed for good.
    const campaign = await bed.db.newsletter.createCampaign({ subject: 'Hola', text: 'x', html: null }, { tenant: 'rep-a' });
    await bed.db.newsletter.addRecipients(campaign, [
      { userId: 'n1', email: 'n1@example.com', firstName: 'N' },
      { userId: 'n2', email: 'n2@example.com', firstName: 'N' },
    ]);
    await bed.db.newsletter.start(campaign);
    await bed.db.newsletter.recordOutcome(campaign, 'n1', 'sent', { messageId: '<n1@example.com>' });
    await bed.db.newsletter.recordOutcome(campaign, 'n2', 'failed', { error: 'permanent SMTP 550' });

    const before = bed.peers.slack.requests.length;
    const maintenance = queues.getQueue('maintenance');
    const report = await maintenance.add('daily-report', {});
    const job = await waitForState(maintenance, report.id!, 'completed');
    expect(job.returnvalue).toMatchObject({ tenantReports: 2 });
    const reports = await waitFor(
      () => {
        const got = bed.peers.slack.requests
          .slice(before)
          .filter((request) => /daily report/.test((request.body as { text: string }).text));
        return got.length === 3 ? got : undefined;
      },
      { what: 'the three reports' },
    );
    const at = (path: string) =>
      reports.filter((request) => request.path === path).map((request) => (request.body as { text: string }).text);
    const [platform] = at('/hook');
    const [ofA] = at('/rep-a-hook');
    const [ofB] = at('/rep-b-hook');
    expect(at('/rep-d-hook')).toEqual([]);
    // The platform's: every tenant's jobs, as before.
    expect(platform).toMatch(/^:information_source: \*Ceres daily report\* — /m);
    expect(platform).toMatch(/^email\s+4\s+\d+\s+0\s+(-|\d+ ms|\d+\.\d s)$/m);
    expect(Number(/^email\s+4\s+(\d+)/m.exec(platform!)![1])).toBeGreaterThanOrEqual(2);
    // a's: its own figures only, its name escaped.
    expect(ofA).toContain('*Ceres daily report for Villa &lt;A&gt;*');
    expect(ofA).toContain('Mails sent: *2*; newsletter mails sent: *1*, failed: *1*');
    expect(ofA).toMatch(/^email\s+1$/m);
    expect(ofA).toMatch(/^files\s+0$/m);
    expect(ofA).toMatch(/1× email: permanent SMTP 550/);
    expect(ofA).not.toContain('example.com');
    expect(ofB).toContain('*Ceres daily report for Villa B*');
    expect(ofB).toContain('Mails sent: *0*; newsletter mails sent: *0*, failed: *0*');
    expect(ofB).toMatch(/^email\s+1$/m);
  }, 30_000);
});

describe('maintenance schedulers', () => {
  it('an unchanged definition is left alone at restart; a changed one is replaced', async () => {
    const env = workerEnv(bed.peers);
    const queue = bed.producer(env).getQueue('maintenance');
    const schedules = [{ job: 'daily-report', pattern: '0 9 * * *' }] as const;
    expect(await upsertJobSchedulers(queue, 'America/Argentina/Cordoba', logger, schedules)).toEqual([
      { job: 'daily-report', changed: true },
    ]);
    const first = await queue.getJobScheduler('daily-report');
    const delayedBefore = (await queue.getDelayed()).map((job) => job.id);
    expect(await upsertJobSchedulers(queue, 'America/Argentina/Cordoba', logger, schedules)).toEqual([
      { job: 'daily-report', changed: false },
    ]);
    expect(await queue.getJobScheduler('daily-report')).toEqual(first);
    expect((await queue.getDelayed()).map((job) => job.id)).toEqual(delayedBefore);
    expect(delayedBefore).toHaveLength(1);
    // 09:00 in Córdoba (UTC-3) is 12:00 UTC.
    expect(new Date(first!.next!).getUTCHours()).toBe(12);

    expect(await upsertJobSchedulers(queue, 'UTC', logger, schedules)).toEqual([{ job: 'daily-report', changed: true }]);
    expect(await queue.getJobSchedulersCount()).toBe(1);
    expect(new Date((await queue.getJobScheduler('daily-report'))!.next!).getUTCHours()).toBe(9);
    expect(await queue.getDelayed()).toHaveLength(1);
  });

  it('with three worker processes each tick of a per-second schedule runs exactly once, across a restart', async () => {
    const env = workerEnv(bed.peers, { CLEAN_TOKENS_CRON: '* * * * * *', LOG_LEVEL: 'debug' }); // debug: the per-job lines
    const workers = [spawnWorker(env), spawnWorker(env), spawnWorker(env)];
    bed.children.push(...workers);
    await Promise.all(workers.map((w) => w.ready));
    // Ticks run, by whichever process: 3 before the restart, 3 more after it.
    const ticksRun = () =>
      [...bed.children].flatMap((w) => w.logs).filter((entry) => entry.msg === 'job completed' && entry.queue === 'maintenance').length;
    await waitFor(() => ticksRun() >= 3, { what: '3 ticks' });
    // Restart one instance in the middle: it upserts the unchanged schedule again.
    workers[1]!.child.kill('SIGTERM');
    expect((await workers[1]!.exited).code).toBe(0);
    const restarted = spawnWorker(env);
    bed.children.push(restarted);
    await restarted.ready;
    const ranBefore = ticksRun();
    await waitFor(() => ticksRun() >= ranBefore + 3, { what: '3 ticks after the restart' });
    await Promise.all(
      [workers[0]!, workers[2]!, restarted].map(async (w) => {
        w.child.kill('SIGTERM');
        await w.exited;
      }),
    );

    const queue = bed.producer(env).getQueue('maintenance');
    const completed = (await queue.getCompleted(0, -1)).filter((job) => job.name === 'clean-verification-tokens');
    const ticks = completed.map((job) => Number(String(job.id).split(':').pop())).sort((a, b) => a - b);
    expect(ticks.length).toBeGreaterThanOrEqual(6);
    // One job per second, none skipped, none doubled.
    expect(new Set(ticks).size).toBe(ticks.length);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBe(1000);
    // Every tick was processed by exactly one process, once.
    const runs = [...workers, restarted]
      .flatMap((w) => w.logs)
      .filter((entry) => entry.msg === 'job completed' && entry.queue === 'maintenance')
      .map((entry) => String(entry.jobId));
    expect(runs.sort()).toEqual(completed.map((job) => String(job.id)).sort());
    // clean-verification-tokens, daily-report, purge-failed-jobs, audit-retention and ledger-retention.
    expect(await queue.getJobSchedulersCount()).toBe(5);
  }, 60_000);
});
