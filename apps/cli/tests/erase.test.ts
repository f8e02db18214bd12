import { createRedisConnection, loadQueuesConfig, QUEUE_NAMES, type QueueClient } from '@ceres/queues';
import { waitFor } from '@ceres/testing';
import { Worker, type JobType } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { cli, cliJson, useBed } from './helpers';

const bed = useBed();
const HOUR = 3_600_000;
const ALL_STATES: JobType[] = ['waiting', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed', 'active'];

/** Every job of every queue and state whose payload's userId is `userId`, as `queue/name`. */
async function jobsOf(producer: QueueClient, userId: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of QUEUE_NAMES) {
    for (const job of await producer.getQueue(name).getJobs(ALL_STATES, 0, -1)) {
      if ((job?.data as { userId?: string } | undefined)?.userId === userId) found.push(`${name}/${job.name}:${await job.getState()}`);
    }
  }
  return found.sort();
}

const tokensOf = async (userId: string) =>
  (
    await bed.db.pool.query<{ token: string }>('SELECT token FROM verification_tokens WHERE user_id = $1 ORDER BY token', [userId])
  ).rows.map((row) => row.token);
const rowsOf = async (userId: string) =>
  (
    await bed.db.pool.query<{ job_id: string }>("SELECT job_id FROM failed_jobs WHERE payload->>'userId' = $1 ORDER BY job_id", [userId])
  ).rows.map((row) => row.job_id);

/**
 * A user with data everywhere erasure looks: a verify job dead-lettered (failed in Redis and its
 * failed_jobs row, written by the real worker), a welcome job completed, a file job waiting and
 * one delayed, an older archived failure, and two verification tokens.
 */
async function userWithData(producer: QueueClient, env: Record<string, string>, userId: string) {
  const email = `${userId}@example.com`;
  for (const suffix of ['a', 'b'])
    await bed.db.tokens.insert({ token: `${userId}-token-${suffix}-123456`, userId, expiresAt: new Date(Date.now() + HOUR) });
  bed.peers.smtp.setRules([{ match: email, code: 550 }]);
  await producer.enqueue('email/verify', { userId, email, firstName: 'Rosario', token: `${userId}-token-a-123456` });
  expect((await cli(env, ['work', '--stop-when-empty', '--queue', 'email'])).code).toBe(0);
  bed.peers.smtp.setRules([]);
  await producer.enqueue('email/welcome', { userId, email, firstName: 'Rosario' });
  expect((await cli(env, ['work', '--stop-when-empty', '--queue', 'email'])).code).toBe(0);
  await producer.enqueue('files/validate-cv', { userId, fileKey: `cv/${userId}.pdf` });
  await producer.enqueue('files/optimize-profile-picture', { userId, fileKey: `pictures/${userId}.png` }, { delay: 600_000 });
  await bed.db.failedJobs.archive({
    queue: 'email',
    jobName: 'welcome',
    jobId: `email:welcome:${userId}`,
    payload: { userId, email: 'enc:v0:xx', firstName: 'enc:v0:yy' },
    error: 'permanent SMTP 550: r***@example.com rejected',
    attemptsMade: 1,
    failedAt: new Date(Date.now() - 20 * 24 * HOUR),
  });
}

const EVERYTHING = [
  'email/verify:failed',
  'email/welcome:completed',
  'files/optimize-profile-picture:delayed',
  'files/validate-cv:waiting',
];

describe('erase <user-id>', () => {
  it("removes exactly the user's jobs (every queue and state), failed_jobs rows and tokens, nobody else's; prints the counts and logs them without the data", async () => {
    const producer = bed.producer();
    const env = { ...bed.env, LOG_LEVEL: 'info' };
    const [target, other] = ['erase-me-1', 'keep-me-1'];
    for (const userId of [target, other]) await userWithData(producer, env, userId);
    for (const userId of [target, other]) {
      expect(await jobsOf(producer, userId)).toEqual(EVERYTHING);
      expect(await rowsOf(userId)).toEqual([`email:verify:${userId}`, `email:welcome:${userId}`]);
      expect(await tokensOf(userId)).toHaveLength(2);
    }
    // The dead-letter alerts the worker enqueued name no user field: they are not the user's jobs.
    const alerts = await producer.getQueue('slack').getJobCountByTypes(...ALL_STATES);
    expect(alerts).toBe(2);

    // Not on a terminal and no --yes; declined on a terminal: nothing erased.
    expect(await cli(env, ['erase', target])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'ceres-jobs: erase: asks for confirmation on a terminal; pass --yes to erase without asking\n',
    });
    const declined = await cli(env, ['erase', target], { stdinTty: true, input: 'n\n' });
    expect(declined.code).toBe(1);
    expect(declined.stdout).toContain(
      "Erase this user's jobs (every queue and state), failed_jobs rows, tokens and newsletter addresses? [y/N] ",
    );
    expect(declined.stdout).toMatch(/nothing erased\n$/);
    expect(await jobsOf(producer, target)).toEqual(EVERYTHING);
    expect(await tokensOf(target)).toHaveLength(2);

    const erased = await cli(env, ['erase', target, '--yes', '--json']);
    expect(erased.code, erased.stderr).toBe(0);
    // sentMails 2: the welcome mail's record, and the verify mail's, written before its send was refused (550).
    const counts = {
      jobs: 4,
      jobsByQueue: { email: 2, files: 2, maintenance: 0, newsletter: 0, slack: 0 },
      jobsStillRunning: 0,
      failedJobs: 2,
      tokens: 2,
      newsletterRecipients: 0,
      newsletterOptOuts: 0,
      sentMails: 2,
      // The ledger rows of the user's jobs the worker ran above.
      ledgerRows: 2,
    };
    expect(JSON.parse(erased.stdout)).toEqual(counts);
    // One log line on stderr, the counts only.
    const lines = erased.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([expect.objectContaining({ level: 30, app: 'ceres-cli', msg: 'user data erased', ...counts })]);
    for (const output of [erased.stdout, erased.stderr, declined.stdout])
      expect(output).not.toMatch(/erase-me|@example\.com|Rosario|token-/);

    expect(await jobsOf(producer, target)).toEqual([]);
    expect(await rowsOf(target)).toEqual([]);
    expect(await tokensOf(target)).toEqual([]);
    // No Redis key is named after them any more (job hashes are named by the job id), but for the
    // dead-letter alert, which names the dead job's id (docs/personal-data.md: not erased, kept 1 h).
    const admin = createRedisConnection(producer.config, 'worker');
    // (Its own prefix: the run's Redis is shared with other test files.)
    const left = await admin.keys(`${producer.config.redisPrefix}*${target}*`);
    admin.disconnect();
    expect(left).toEqual([expect.stringMatching(new RegExp(`queue:slack:slack:alert:dead-email-email_verify_${target}-\\d+-`))]);
    // Everybody else's data is all there.
    expect(await jobsOf(producer, other)).toEqual(EVERYTHING);
    expect(await rowsOf(other)).toEqual([`email:verify:${other}`, `email:welcome:${other}`]);
    expect(await tokensOf(other)).toEqual([`${other}-token-a-123456`, `${other}-token-b-123456`]);
    expect(await producer.getQueue('slack').getJobCountByTypes(...ALL_STATES)).toBe(alerts);

    // The text form; and erasing again finds nothing and still succeeds.
    const text = await cli(bed.env, ['erase', other, '--yes']);
    expect(text).toEqual({
      code: 0,
      stdout:
        'removed 4 job(s) (email 2, files 2, maintenance 0, newsletter 0, slack 0), 2 failed_jobs row(s), 2 token(s); blanked 0 newsletter recipient row(s), 0 opt-out address(es); removed 2 sent_mails record(s), 2 job ledger row(s)\n',
      stderr: '',
    });
    expect(await jobsOf(producer, other)).toEqual([]);
    const again = await cli(env, ['erase', target, '--yes', '--json']);
    expect(JSON.parse(again.stdout)).toEqual({
      jobs: 0,
      jobsByQueue: { email: 0, files: 0, maintenance: 0, newsletter: 0, slack: 0 },
      jobsStillRunning: 0,
      failedJobs: 0,
      tokens: 0,
      newsletterRecipients: 0,
      newsletterOptOuts: 0,
      sentMails: 0,
      ledgerRows: 0,
    });
    expect(again.code).toBe(0);
  }, 90_000);

  it('a job of the user running right now is counted, exits 1 with a line saying so; erasing again once it finished removes it', async () => {
    const producer = bed.producer();
    const userId = 'busy-user-1';
    await producer.enqueue('files/validate-cv', { userId, fileKey: `cv/${userId}.pdf` });
    await producer.enqueue('files/optimize-profile-picture', { userId, fileKey: `pictures/${userId}.png` }, { delay: 600_000 });
    const connection = createRedisConnection(producer.config, 'worker');
    connection.on('error', () => {});
    let release: () => void = () => {};
    let started = false;
    const worker = new Worker(
      'files',
      async () => {
        started = true;
        await new Promise<void>((resolve) => (release = resolve));
        return { ok: true };
      },
      { connection, prefix: loadQueuesConfig(bed.env).bullPrefix },
    );
    try {
      await waitFor(() => started, { what: 'the file job to run' });
      const busy = await cli(bed.env, ['erase', userId, '--yes', '--json']);
      expect(busy.code).toBe(1);
      expect(JSON.parse(busy.stdout)).toEqual({
        jobs: 1,
        jobsByQueue: { email: 0, files: 1, maintenance: 0, newsletter: 0, slack: 0 },
        jobsStillRunning: 1,
        failedJobs: 0,
        tokens: 0,
        newsletterRecipients: 0,
        newsletterOptOuts: 0,
        sentMails: 0,
        ledgerRows: 0,
      });
      expect(busy.stderr).toBe(
        'ceres-jobs: 1 job(s) of this user are running and could not be removed; run erase again once they finished\n',
      );
      expect(await jobsOf(producer, userId)).toEqual(['files/validate-cv:active']);

      release();
      await waitFor(async () => (await jobsOf(producer, userId))[0] === 'files/validate-cv:completed', {
        what: 'the file job to complete',
      });
      expect(await cliJson(bed.env, ['erase', userId, '--yes'])).toMatchObject({ jobs: 1, jobsStillRunning: 0 });
      expect(await jobsOf(producer, userId)).toEqual([]);
    } finally {
      release();
      await worker.close();
      connection.disconnect();
    }
  }, 60_000);

  it('erases nothing when a server or a variable is missing; a bad user id is a usage error', async () => {
    const producer = bed.producer();
    const userId = 'kept-user-1';
    await producer.enqueue('files/validate-cv', { userId, fileKey: `cv/${userId}.pdf` });
    await bed.db.tokens.insert({ token: `${userId}-token-123456`, userId, expiresAt: new Date(Date.now() + HOUR) });

    const { DATABASE_URL: _, ...noDb } = bed.env;
    expect(await cli(noDb, ['erase', userId, '--yes'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'ceres-jobs: invalid configuration: DATABASE_URL is not set (expected postgres://user:pass@host:5432/dbname); every mutating command records an audit row in PostgreSQL (nothing was done)\n',
    });
    // No audit, no action: exit 1 rather than 3, nothing erased.
    expect(await cli({ ...bed.env, DATABASE_URL: 'postgres://ceres:secret-pass@127.0.0.1:1/ceres' }, ['erase', userId, '--yes'])).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'ceres-jobs: not done: the audit trail cannot be written (PostgreSQL is unreachable at 127.0.0.1:1/ceres (ECONNREFUSED)); try again once it is back\n',
    });
    // PostgreSQL is reached first, then Redis: a Redis that is not there leaves the tokens too.
    expect(await cli({ ...bed.env, REDIS_URL: 'redis://127.0.0.1:1' }, ['erase', userId, '--yes'])).toEqual({
      code: 3,
      stdout: '',
      stderr: 'ceres-jobs: Redis is unreachable at 127.0.0.1:1/5\n',
    });
    expect(await cli(bed.env, ['erase', '', '--yes'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'ceres-jobs: user-id: the user id must be at least 1 characters long\n',
    });
    expect((await cli(bed.env, ['erase', 'a\nb', '--yes'])).stderr).toMatch(
      /^ceres-jobs: user-id: the user id contains characters that are not allowed/,
    );
    expect((await cli(bed.env, ['erase', 'x'.repeat(129), '--yes'])).stderr).toBe(
      'ceres-jobs: user-id: the user id must be at most 128 characters long\n',
    );
    expect((await cli(bed.env, ['erase'])).code).toBe(2);
    expect(await cli({ ...bed.env, LOG_LEVEL: 'loud' }, ['erase', userId, '--yes'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^ceres-jobs: invalid configuration: LOG_LEVEL/),
    });

    expect(await jobsOf(producer, userId)).toEqual(['files/validate-cv:waiting']);
    expect(await tokensOf(userId)).toEqual([`${userId}-token-123456`]);
  }, 60_000);
});

describe('erase <user-id> --tenant <id> (issue 26)', () => {
  const USER = 'same-id-1';
  const TENANTS = ['default', 'erase-a', 'erase-b'] as const;
  const scoped = (tenant: string, id: string) => (tenant === 'default' ? id : `${tenant}@${id}`);

  /** The same user id in three tenants, with data everywhere erasure looks. */
  async function sameUserInThreeTenants(producer: QueueClient) {
    for (const tenant of TENANTS.slice(1)) await bed.db.tenants.add(tenant, { name: tenant });
    for (const tenant of TENANTS) {
      await bed.db.tokens.insert({ token: `${tenant}-verify-token-123456`, userId: USER, expiresAt: new Date(Date.now() + HOUR), tenant });
      await bed.db
        .hashedTokens('password_reset_tokens')
        .insert({ token: `${tenant}-reset-token-123456`, userId: USER, expiresAt: new Date(Date.now() + HOUR), tenant });
      await producer.enqueue('files/validate-cv', { userId: USER, fileKey: `cv/${tenant}-${USER}.pdf` }, { tenant });
      await bed.db.failedJobs.archive({
        queue: 'email',
        jobName: 'welcome',
        jobId: scoped(tenant, `email:welcome:${USER}`),
        payload: { userId: USER, email: 'enc:v0:xx', firstName: 'enc:v0:yy', ...(tenant === 'default' ? {} : { $tenant: tenant }) },
        error: 'permanent SMTP 550',
        attemptsMade: 1,
        failedAt: new Date(Date.now() - HOUR),
      });
      await bed.db.sentMails.record({
        queue: 'email',
        jobId: scoped(tenant, `email:welcome:${USER}`),
        jobCreatedAt: new Date(Date.now() - HOUR),
        messageId: `<${tenant}@example.com>`,
      });
      // A job ledger row keyed by the user id, and one keyed by a campaign id that happens to equal it (kept).
      await bed.db.jobLedger.insertMany(
        (['userId', 'campaignId'] as const).map((keyField) => ({
          queue: keyField === 'userId' ? 'email' : 'newsletter',
          jobType: keyField === 'userId' ? 'welcome' : 'fan-out',
          jobId: scoped(tenant, keyField === 'userId' ? `email:welcome:${USER}` : `newsletter:fan-out:${USER}`),
          tenant,
          keyField,
          key: USER,
          state: 'completed' as const,
          enqueuedAt: new Date(Date.now() - HOUR),
          startedAt: null,
          finishedAt: new Date(Date.now() - HOUR),
          attempts: 1,
          result: null,
          error: null,
        })),
      );
      const campaign = await bed.db.newsletter.createCampaign({ subject: 'Hola', text: 'x', html: null }, { tenant });
      await bed.db.newsletter.addRecipients(campaign, [{ userId: USER, email: 'same@example.com', firstName: 'Rosario' }], { tenant });
      expect(await bed.db.newsletter.unsubscribe(campaign, USER)).toBe('recorded');
    }
  }

  /** What each tenant still has of the user, per place. */
  async function leftOf(producer: QueueClient): Promise<Record<string, Record<string, number>>> {
    const count = async (sql: string, tenant: string) => (await bed.db.pool.query<{ n: number }>(sql, [USER, tenant])).rows[0]!.n;
    const left: Record<string, Record<string, number>> = {};
    const jobs = await producer.getQueue('files').getJobs(ALL_STATES, 0, -1);
    for (const tenant of TENANTS) {
      left[tenant] = {
        jobs: jobs.filter((job) => job?.id === scoped(tenant, `files:validate-cv:cv/${tenant}-${USER}.pdf`)).length,
        verificationTokens: await count('SELECT count(*)::int AS n FROM verification_tokens WHERE user_id = $1 AND tenant_id = $2', tenant),
        resetTokens: await count('SELECT count(*)::int AS n FROM password_reset_tokens WHERE user_id = $1 AND tenant_id = $2', tenant),
        failedJobs: await count(
          `SELECT count(*)::int AS n FROM failed_jobs WHERE payload->>'userId' = $1 AND COALESCE(payload->>'$tenant', 'default') = $2`,
          tenant,
        ),
        sentMails: (
          await bed.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sent_mails WHERE job_id = $1', [
            scoped(tenant, `email:welcome:${USER}`),
          ])
        ).rows[0]!.n,
        recipientsWithAddress: await count(
          `SELECT count(*)::int AS n FROM newsletter_recipients r JOIN newsletter_campaigns c ON c.id = r.campaign_id
            WHERE r.user_id = $1 AND c.tenant_id = $2 AND r.email <> ''`,
          tenant,
        ),
        clearOptOuts: await count(
          'SELECT count(*)::int AS n FROM newsletter_unsubscribes WHERE user_id = $1 AND tenant_id = $2 AND erased_at IS NULL',
          tenant,
        ),
        ledgerRows: await count(
          "SELECT count(*)::int AS n FROM job_ledger WHERE key = $1 AND tenant_id = $2 AND key_field = 'userId'",
          tenant,
        ),
        campaignLedgerRows: await count(
          "SELECT count(*)::int AS n FROM job_ledger WHERE key = $1 AND tenant_id = $2 AND key_field = 'campaignId'",
          tenant,
        ),
      };
    }
    return left;
  }

  const ALL = {
    jobs: 1,
    verificationTokens: 1,
    resetTokens: 1,
    failedJobs: 1,
    sentMails: 1,
    recipientsWithAddress: 1,
    clearOptOuts: 1,
    ledgerRows: 1,
    campaignLedgerRows: 1,
  };
  const NONE = {
    ...ALL,
    jobs: 0,
    verificationTokens: 0,
    resetTokens: 0,
    failedJobs: 0,
    sentMails: 0,
    recipientsWithAddress: 0,
    clearOptOuts: 0,
    ledgerRows: 0,
  };

  it("erases that tenant's user only: the same user id of another tenant and of default keeps everything", async () => {
    const producer = bed.producer();
    await sameUserInThreeTenants(producer);
    expect(await leftOf(producer)).toEqual({ default: ALL, 'erase-a': ALL, 'erase-b': ALL });

    const declined = await cli(bed.env, ['erase', USER, '--tenant', 'erase-a'], { stdinTty: true, input: 'n\n' });
    expect(declined.stdout).toContain("Tenant erase-a: Erase this user's jobs");
    const erased = await cli(bed.env, ['erase', USER, '--tenant', 'erase-a', '--yes', '--json']);
    expect(erased.code, erased.stderr).toBe(0);
    expect(JSON.parse(erased.stdout)).toEqual({
      jobs: 1,
      jobsByQueue: { email: 0, files: 1, maintenance: 0, newsletter: 0, slack: 0 },
      jobsStillRunning: 0,
      failedJobs: 1,
      tokens: 2,
      newsletterRecipients: 1,
      newsletterOptOuts: 1,
      sentMails: 1,
      ledgerRows: 1,
    });
    expect(await leftOf(producer)).toEqual({ default: ALL, 'erase-a': NONE, 'erase-b': ALL });
    // a's opt-out is kept in its erased form: still a's, still blocking a's user.
    const { rows } = await bed.db.pool.query('SELECT tenant_id FROM newsletter_unsubscribes WHERE user_id = $1 AND erased_at IS NOT NULL', [
      USER,
    ]);
    expect(rows).toEqual([{ tenant_id: 'erase-a' }]);

    // Without --tenant: default's user, and b's is still there.
    expect(await cliJson(bed.env, ['erase', USER, '--yes'])).toMatchObject({
      jobs: 1,
      failedJobs: 1,
      tokens: 2,
      sentMails: 1,
      ledgerRows: 1,
    });
    expect(await leftOf(producer)).toEqual({ default: NONE, 'erase-a': NONE, 'erase-b': ALL });
  }, 60_000);

  it('an unknown tenant is an error (exit 1), a malformed one a usage error; nothing is erased', async () => {
    const producer = bed.producer();
    await producer.enqueue('files/validate-cv', { userId: 'kept-2', fileKey: 'cv/kept-2.pdf' });
    expect(await cli(bed.env, ['erase', 'kept-2', '--tenant', 'nobody', '--yes'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'ceres-jobs: no tenant "nobody" (see tenants list)\n',
    });
    expect((await cli(bed.env, ['erase', 'kept-2', '--tenant', 'Not Valid', '--yes'])).code).toBe(2);
    expect(await jobsOf(producer, 'kept-2')).toEqual(['files/validate-cv:waiting']);
  });
});
