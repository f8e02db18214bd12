import { createDb } from '@ceres/db';
import { createRedisConnection } from '@ceres/queues';
import { waitFor } from '@ceres/testing';
import { UnrecoverableError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app';
import { deadLetterDedupeKey } from '../src/dead-letters';
import { createLogger } from '../src/deps/logger';
import {
  configFor,
  promoteUntilFinished,
  spawnWorker,
  waitForIdle,
  waitForLog,
  waitForState,
  workerEnv,
  useTestBed,
} from './helpers/harness';

// Servers of its own: a test stops PostgreSQL while jobs die.
const bed = useTestBed({ ownServers: true });

/** Alerts seen by the Slack stand-in that name this job id. */
const alertsFor = (jobId: string) => bed.peers.slack.requests.filter((request) => JSON.stringify(request.body).includes(jobId));

describe('a job that always fails', () => {
  it('ends after 6 attempts with one failed_jobs row and one alert, with three worker processes', async () => {
    const env = workerEnv(bed.peers);
    bed.peers.smtp.setRules([{ match: /^busy@/, code: 451 }]);
    bed.children.push(spawnWorker(env), spawnWorker(env), spawnWorker(env));
    await Promise.all(bed.children.map((child) => child.ready));
    const queues = bed.producer(env);
    const { jobId } = await queues.enqueue('email/welcome', { userId: 'always-busy', email: 'busy@example.com', firstName: 'B' });

    const job = await promoteUntilFinished(queues.getQueue('email'), jobId, 40_000);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(6);
    expect(job.failedReason).toMatch(/transient SMTP 451/);
    expect(bed.peers.smtp.refused.filter((r) => r.to === 'busy@example.com')).toHaveLength(6);

    await waitFor(() => alertsFor(jobId).length >= 1, { timeoutMs: 15_000, what: 'the dead-letter alert' });
    // Any duplicate would be in by now: the process that ran the last attempt has recorded it (the
    // alert is enqueued before the row), and every alert enqueued has been posted.
    await waitForLog(bed.children, 'job failed for good', jobId);
    await waitForIdle(queues.getQueue('slack'));
    const rows = await bed.db.failedJobs.list({ queue: 'email', jobId });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ jobName: 'welcome', attemptsMade: 6 });
    expect(rows[0]!.failedAt.getTime()).toBe(job.finishedOn);
    expect(alertsFor(jobId)).toHaveLength(1);
    const text = (alertsFor(jobId)[0]!.body as { text: string }).text;
    expect(text).toMatch(/queue \*email\*, job \*welcome\*/);
    expect(text).toContain('451');
    const alertJob = await queues.getQueue('slack').getJob(`slack:alert:${deadLetterDedupeKey('email', jobId, job.finishedOn!)}`);
    expect(alertJob).toBeDefined();
  }, 60_000);
});

describe('a failing Slack webhook', () => {
  it('answering 500 ends the alert after its 6 attempts on the standard schedule, archived, with no further alert (breakers off)', async () => {
    // With the Slack breaker on (the default), 5 answers of 500 open it and the alert waits without
    // spending attempts (apps/worker/tests/breakers.test.ts); this is the schedule without it.
    const env = workerEnv(bed.peers, { WORKER_BREAKER_FAILURES: '0' });
    bed.children.push(spawnWorker(env));
    await bed.children[0]!.ready;
    bed.peers.slack.setStatus(500);
    const queues = bed.producer(env);
    const { jobId } = await queues.enqueue('slack/alert', { text: 'disk almost full', severity: 'warning', dedupeKey: 'disk-full' });
    const job = await promoteUntilFinished(queues.getQueue('slack'), jobId, 30_000);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(6);
    expect(job.failedReason).toMatch(/HTTP 500/);
    await waitFor(async () => (await bed.db.failedJobs.list({ queue: 'slack', jobId })).length === 1, { what: 'the archived slack job' });
    // Nothing more can come: the dead letter is recorded and the slack queue has nothing left to run.
    await waitForLog(bed.children, 'job failed for good', jobId);
    await waitForIdle(queues.getQueue('slack'));
    expect(bed.peers.slack.requests).toHaveLength(6);
    expect(bed.peers.slack.requests.every((r) => (r.body as { text: string }).text.includes('disk almost full'))).toBe(true);
    expect(await queues.getQueue('slack').count()).toBe(0);
  }, 40_000);
});

describe('startup reconciliation', () => {
  it('archives and alerts failures that happened while no worker listened, once across restarts', async () => {
    const env = workerEnv(bed.peers);
    const queues = bed.producer(env);
    const config = configFor(env);
    // A bare BullMQ worker without the dead-letter listener makes the failure nobody recorded.
    const connection = createRedisConnection(queues.config, 'worker');
    connection.on('error', () => {});
    const bare = new Worker(
      'email',
      async () => {
        throw new UnrecoverableError('mailbox vanished');
      },
      { connection, prefix: config.queues.bullPrefix },
    );
    const { jobId } = await queues.enqueue('email/welcome', { userId: 'missed', email: 'm@example.com', firstName: 'M' });
    await waitForState(queues.getQueue('email'), jobId, 'failed');
    await bare.close();
    await connection.quit();
    expect(await bed.db.failedJobs.list({ queue: 'email', jobId })).toHaveLength(0);

    for (let run = 0; run < 2; run++) {
      // Two apps at once, twice: concurrent and repeated reconciliations.
      const captures = [capturedLogger(), capturedLogger()];
      const apps = captures.map(({ logger }) => createWorkerApp({ config, logger }));
      await Promise.all(apps.map((app) => app.started));
      await waitFor(async () => (await bed.db.failedJobs.list({ queue: 'email', jobId })).length === 1, { what: 'the reconciled row' });
      await waitFor(() => alertsFor(jobId).length >= 1, { what: 'the reconciled alert' });
      // Both reconciliations are over and every alert they enqueued has been posted.
      await waitFor(() => captures.every(({ lines }) => lines.some((line) => line.msg === 'dead letters reconciled')), {
        what: 'both reconciliations',
      });
      await waitForIdle(queues.getQueue('slack'));
      await Promise.all(apps.map((app) => app.stop()));
    }
    expect(await bed.db.failedJobs.list({ queue: 'email', jobId })).toHaveLength(1);
    expect(alertsFor(jobId)).toHaveLength(1);
  }, 40_000);
});

/** Fails jobs with a bare BullMQ worker that has no dead-letter listener: failures nobody recorded. */
async function failUnrecorded(queues: ReturnType<typeof bed.producer>, queue: 'email' | 'slack', count: () => Promise<void>) {
  const connection = createRedisConnection(queues.config, 'worker');
  connection.on('error', () => {});
  const bare = new Worker(
    queue,
    async () => {
      throw new UnrecoverableError('failed while nobody listened');
    },
    { connection, prefix: queues.config.bullPrefix, concurrency: 50 },
  );
  try {
    await count();
  } finally {
    await bare.close();
    await connection.quit();
  }
}

/** A pino destination that keeps the parsed lines. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('a payload PostgreSQL cannot store', () => {
  it('a lone surrogate written straight into Redis dead-letters with a failed_jobs row and one alert', async () => {
    const env = workerEnv(bed.peers);
    bed.children.push(spawnWorker(env));
    await bed.children[0]!.ready;
    const queues = bed.producer(env);
    // Not through enqueue (which refuses it): as an older producer or a script would write it.
    const jobId = 'email:welcome:poison-live';
    await queues.getQueue('email').add('welcome', { userId: 'poison', email: 'p@example.com', firstName: 'Ana\ud800' }, { jobId });
    const job = await waitForState(queues.getQueue('email'), jobId, 'failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/firstName contains a NUL character or a lone UTF-16 surrogate/);
    await waitFor(async () => (await bed.db.failedJobs.list({ queue: 'email', jobId })).length === 1, { what: 'the archived poison job' });
    const [row] = await bed.db.failedJobs.list({ queue: 'email', jobId });
    expect(row!.payload).toMatchObject({ firstName: 'Ana\ufffd' });
    await waitFor(() => alertsFor(jobId).length >= 1, { what: 'the alert' });
    await waitForLog(bed.children, 'job failed for good', jobId);
    await waitForIdle(queues.getQueue('slack'));
    expect(alertsFor(jobId)).toHaveLength(1);
    expect(bed.peers.smtp.messages).toHaveLength(0);
  }, 40_000);

  it('does not block reconciliation: a normal dead job of a later queue is archived in the same run', async () => {
    const env = workerEnv(bed.peers);
    const queues = bed.producer(env);
    const poisonId = 'email:welcome:poison-reconcile';
    const normal = { jobId: '' };
    await failUnrecorded(queues, 'email', async () => {
      // NUL and a lone surrogate, as a payload from elsewhere may hold them.
      await queues
        .getQueue('email')
        .add('welcome', { userId: 'p2', email: 'p2@example.com', firstName: 'x\u0000\udc00' }, { jobId: poisonId });
      await waitForState(queues.getQueue('email'), poisonId, 'failed');
    });
    await failUnrecorded(queues, 'slack', async () => {
      normal.jobId = (await queues.enqueue('slack/alert', { text: 'normal dead job', dedupeKey: 'normal-dead' })).jobId;
      await waitForState(queues.getQueue('slack'), normal.jobId, 'failed');
    });

    const { logger, lines } = capturedLogger();
    const app = createWorkerApp({ config: configFor(env), logger, schedulers: false });
    bed.apps.push(app);
    await app.started;
    await waitFor(() => lines.some((line) => line.msg === 'dead letters reconciled'), { what: 'the startup reconciliation' });
    expect(lines.find((line) => line.msg === 'dead letters reconciled')).toMatchObject({ recorded: 2, failed: 0 });
    const [poison] = await bed.db.failedJobs.list({ queue: 'email', jobId: poisonId });
    expect(poison!.payload).toMatchObject({ firstName: 'x\ufffd\ufffd' });
    expect(await bed.db.failedJobs.list({ queue: 'slack', jobId: normal.jobId })).toHaveLength(1);
    await waitFor(() => alertsFor(poisonId).length >= 1, { what: 'the poison job alert' });
  }, 40_000);
});

describe('PostgreSQL down while jobs die', () => {
  it('10 dead jobs while it is stopped for 20 s: 10 rows and 10 alerts within a minute, no restart', async () => {
    // The periodic reconciliation is pushed out of the way: the retries must do it.
    // One alert per job (no digest) to tell each one was recorded.
    // Debug logs: each failed retry of a recording is a line, what the outage waits on.
    const env = workerEnv(bed.peers, { DEAD_LETTER_RECONCILE_INTERVAL_MS: '600000', DEAD_LETTER_DIGEST_AFTER: '20', LOG_LEVEL: 'debug' });
    bed.peers.smtp.setRules([{ match: /^gone-/, code: 550 }]);
    const worker = bed.children[bed.children.push(spawnWorker(env)) - 1]!;
    await worker.ready;
    const pid = worker.child.pid;
    const queues = bed.producer(env);
    await bed.peers.postgres.stop();
    let ids: string[] = [];
    try {
      ids = await Promise.all(
        Array.from(
          { length: 10 },
          async (_, n) =>
            (await queues.enqueue('email/welcome', { userId: `gone-${n}`, email: `gone-${n}@example.com`, firstName: 'G' })).jobId,
        ),
      );
      for (const id of ids) await waitForState(queues.getQueue('email'), id, 'failed', 15_000);
      // The outage lasts until every recording has failed 4 retries (1 + 2 + 5 + 10 s): each is at
      // its longest backoff, 10 s, when PostgreSQL comes back.
      const retries = (id: string) =>
        worker.logs.filter((line) => line.msg === 'dead letter still not recorded; retrying' && line.jobId === id).length;
      await waitFor(() => ids.every((id) => retries(id) >= 4), {
        timeoutMs: 40_000,
        intervalMs: 250,
        what: '4 failed retries of each recording',
      });
    } finally {
      await bed.peers.postgres.start();
    }
    const restartedAt = Date.now();
    await waitFor(
      async () => {
        const rows = await Promise.all(ids.map((id) => bed.db.failedJobs.list({ queue: 'email', jobId: id })));
        return rows.every((found) => found.length === 1) && ids.every((id) => alertsFor(id).length >= 1);
      },
      { timeoutMs: 60_000, intervalMs: 250, what: '10 rows and 10 alerts' },
    );
    expect(Date.now() - restartedAt).toBeLessThan(60_000);
    // Every recording is done (the alert is enqueued before the row) and every alert posted.
    for (const id of ids) await waitForLog([worker], 'job failed for good', id);
    await waitForIdle(queues.getQueue('slack'));
    for (const id of ids) expect(alertsFor(id), id).toHaveLength(1);
    expect(worker.child.pid).toBe(pid);
    expect(worker.child.exitCode).toBeNull();
  }, 120_000);
});

describe('periodic reconciliation', () => {
  it('re-archives lost rows within an interval, one instance per tick, one archive query per page of jobs', async () => {
    // One alert per job (no digest), posted faster than Slack's real rate, to tell each one once.
    const env = workerEnv(bed.peers, {
      DEAD_LETTER_RECONCILE_INTERVAL_MS: '2000',
      DEAD_LETTER_DIGEST_AFTER: '1000',
      SLACK_RATE_PER_SECOND: '200',
    });
    const queues = bed.producer(env);
    const ids: string[] = [];
    await failUnrecorded(queues, 'email', async () => {
      for (let n = 0; n < 250; n++) {
        ids.push((await queues.enqueue('email/welcome', { userId: `lost-${n}`, email: `lost-${n}@example.com`, firstName: 'L' })).jobId);
      }
      await waitFor(async () => (await queues.getQueue('email').getFailedCount()) === 250, { timeoutMs: 20_000, what: '250 failed jobs' });
    });
    const config = configFor(env);
    // Per-job queries (has) and the size of each archive query of the email queue.
    const calls = { has: 0, pages: [] as number[] };
    const counted = (db: typeof bed.db) => ({
      ...db,
      failedJobs: {
        ...db.failedJobs,
        has: (key: Parameters<typeof db.failedJobs.has>[0]) => (calls.has++, db.failedJobs.has(key)),
        archivedAmong: (queue: string, keys: Parameters<typeof db.failedJobs.archivedAmong>[1]) => {
          if (queue === 'email') calls.pages.push(keys.length);
          return db.failedJobs.archivedAmong(queue, keys);
        },
      },
    });
    const captures = [capturedLogger(), capturedLogger()];
    const apps = captures.map(({ logger }) => createWorkerApp({ config, logger, schedulers: false, deps: { db: counted(bed.db) } }));
    bed.apps.push(...apps);
    await Promise.all(apps.map((app) => app.started));
    const count = async () =>
      Number(
        (await bed.db.pool.query("SELECT count(*) AS n FROM failed_jobs WHERE queue = 'email' AND job_id LIKE 'email:welcome:lost-%'"))
          .rows[0].n,
      );
    await waitFor(async () => (await count()) === 250, { timeoutMs: 20_000, what: 'the startup reconciliation' });
    await waitFor(() => captures.every(({ lines }) => lines.some((line) => line.msg === 'dead letters reconciled')), {
      what: 'both startups',
    });
    // Two instances, two pages each at startup (plus those of periodic runs): the archive check is
    // one query per page of 200 (250 jobs: 200 + 50), never one per job.
    expect(calls.has).toBe(0);
    expect(calls.pages.filter((size) => size === 200).length).toBeGreaterThanOrEqual(2);
    expect(calls.pages.every((size) => size === 200 || size === 50)).toBe(true);

    // Lose the rows right after a periodic run of the email queue that found nothing to do: the
    // next run is an interval away, so none is in flight.
    const isPeriodic = (line: Record<string, unknown>) => line.msg === 'dead letters reconciled (periodic)' && line.queue === 'email';
    const quiet = () =>
      captures.reduce((sum, { lines }) => sum + lines.filter((line) => isPeriodic(line) && line.recorded === 0).length, 0);
    const quietBefore = quiet();
    await waitFor(() => quiet() > quietBefore, { intervalMs: 5, what: 'a quiet tick' });
    const before = captures.map(({ lines }) => lines.length);
    await bed.db.pool.query("DELETE FROM failed_jobs WHERE job_id LIKE 'email:welcome:lost-%'");
    await waitFor(async () => (await count()) === 250, { timeoutMs: 10_000, what: 'the periodic reconciliation' });
    // A later tick found nothing: the run that archived them is over, and one running alongside it
    // would have logged by then.
    const quietAfter = quiet();
    await waitFor(() => quiet() > quietAfter, { intervalMs: 5, what: 'a quiet tick after the archive' });
    const periodic = captures.flatMap(({ lines }, index) =>
      lines.slice(before[index]).filter((line) => isPeriodic(line) && line.recorded !== 0),
    );
    // One instance took the tick and archived all 250; the other never ran it at the same time.
    expect(periodic).toEqual([expect.objectContaining({ queue: 'email', recorded: 250, failed: 0 })]);
    expect(calls.has).toBe(0);
    expect(calls.pages.every((size) => size === 200 || size === 50)).toBe(true);
    // The alert names the id in backticks: `…lost-1` must not count the alerts of `…lost-10`.
    const exactAlerts = (id: string) => alertsFor(`\`${id}\``);
    await waitFor(() => ids.every((id) => exactAlerts(id).length >= 1), { timeoutMs: 20_000, what: 'the alerts' });
    expect(ids.filter((id) => exactAlerts(id).length !== 1)).toEqual([]);
  }, 90_000);
});

describe('an alert storm', () => {
  it('500 jobs dead-letter within seconds on 2 processes: 500 rows, 5 single alerts and one digest per minute with the right figures', async () => {
    const env = workerEnv(bed.peers, { DEAD_LETTER_DIGEST_AFTER: '5' });
    bed.peers.smtp.setRules([
      { match: /^gone-/, code: 550, message: '5.1.1 Mailbox unavailable' },
      { match: /^bad-/, code: 553, message: '5.1.3 Bad recipient address syntax' },
    ]);
    bed.children.push(spawnWorker(env), spawnWorker(env));
    await Promise.all(bed.children.map((child) => child.ready));
    // Start early in a minute so that the storm falls in one minute's digest.
    await waitFor(() => Date.now() % 60_000 < 25_000, { timeoutMs: 61_000, intervalMs: 200, what: 'the start of a minute' });
    const queues = bed.producer(env);
    const recipients = Array.from({ length: 500 }, (_, n) => (n % 5 < 3 ? `gone-${n}` : `bad-${n}`));
    const results = await queues.enqueueBulk(
      'email/welcome',
      recipients.map((name) => ({ userId: `storm-${name}`, email: `${name}@example.com`, firstName: 'S' })),
    );
    const email = queues.getQueue('email');
    const stormStart = Date.now();
    await waitFor(async () => (await email.getFailedCount()) === 500, { timeoutMs: 30_000, intervalMs: 200, what: '500 dead jobs' });
    // A pool of its own: an earlier test's app closed bed.db's when it stopped.
    const db = createDb(bed.peers.postgres.url);
    try {
      const count = async () =>
        Number(
          (await db.pool.query("SELECT count(*) AS n FROM failed_jobs WHERE queue = 'email' AND job_id LIKE 'email:welcome:storm-%'"))
            .rows[0].n,
        );
      await waitFor(async () => (await count()) === 500, { timeoutMs: 20_000, what: '500 failed_jobs rows' });
    } finally {
      await db.close();
    }
    expect(Date.now() - stormStart).toBeLessThan(40_000);

    // Where the shared counts put them: the minutes, and each minute's total.
    const minute = Math.floor(stormStart / 60_000);
    const figures = await queues.store.readDeadLetterDigest('email', minute);
    const next = await queues.store.readDeadLetterDigest('email', minute + 1);
    expect(next, 'the storm fit in one minute').toBeUndefined();
    expect(figures?.count).toBe(500);
    // The digest is due at the end of its minute plus a grace of 3 s (so that it reads every figure,
    // all in by now): promoted rather than waited for.
    const digestJobs = (await queues.getQueue('slack').getDelayed()).filter((job) => job.name === 'dead-letter-digest');
    expect(digestJobs).toHaveLength(1);
    const dueAt = digestJobs[0]!.timestamp + digestJobs[0]!.delay;
    expect(dueAt).toBeGreaterThanOrEqual((minute + 1) * 60_000);
    expect(dueAt).toBeLessThanOrEqual((minute + 1) * 60_000 + 4_000);
    await digestJobs[0]!.promote();

    const digests = () =>
      bed.peers.slack.requests.filter((r) => (r.body as { text: string }).text.includes('failed for good in the last minute'));
    await waitFor(() => digests().length >= 1, { timeoutMs: 90_000, intervalMs: 250, what: 'the digest' });
    // The 500 rows are in, so every alert and digest has been enqueued (before its row); once the
    // slack queue has nothing left, delayed included, nothing more will be posted.
    await waitForIdle(queues.getQueue('slack'));
    const stormPosts = bed.peers.slack.requests.filter((r) => (r.body as { text: string }).text.includes('storm-'));
    const singles = stormPosts.filter((r) => (r.body as { text: string }).text.includes('Job failed for good'));
    expect(singles).toHaveLength(5);
    expect(digests()).toHaveLength(1);
    expect(stormPosts).toHaveLength(6);
    const text = (digests()[0]!.body as { text: string }).text;
    expect(text).toMatch(/^:x: 500 jobs of \*email\* failed for good in the last minute/);
    expect(text).toContain('300× permanent SMTP 550');
    expect(text).toContain('200× permanent SMTP 553');
    expect(text).not.toMatch(/@example\.com/);
    const ids = new Set(results.map(({ jobId }) => jobId));
    const [, first, last] = /First job id `([^`]+)`, last `([^`]+)`/.exec(text) ?? [];
    expect(ids.has(first!) && ids.has(last!) && first !== last).toBe(true);
    expect(text).toContain('The first 5 were alerted one by one');
  }, 180_000);
});
