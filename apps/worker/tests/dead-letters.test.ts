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
  waitForState,
  workerEnv,
  useTestBed,
} from './helpers/harness';

const bed = useTestBed();

/** Alerts seen by the Slack stand-in that name this job id. */
const alertsFor = (jobId: string) =>
  bed.peers.slack.requests.filter((request) => JSON.stringify(request.body).includes(jobId));

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
    // Time for any duplicate to show up: every process has had its chance to record it.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
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
  it('answering 500 ends the alert after 3 attempts, archived, with no further alert', async () => {
    const env = workerEnv(bed.peers);
    bed.children.push(spawnWorker(env));
    await bed.children[0]!.ready;
    bed.peers.slack.setStatus(500);
    const queues = bed.producer(env);
    const { jobId } = await queues.enqueue('slack/alert', { text: 'disk almost full', severity: 'warning', dedupeKey: 'disk-full' });
    const job = await waitForState(queues.getQueue('slack'), jobId, 'failed', 20_000);
    expect(job.attemptsMade).toBe(3);
    expect(job.failedReason).toMatch(/HTTP 500/);
    await waitFor(async () => (await bed.db.failedJobs.list({ queue: 'slack', jobId })).length === 1, { what: 'the archived slack job' });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(bed.peers.slack.requests).toHaveLength(3);
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
    const connection = queues.connection.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true });
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

    const logger = createLogger('silent');
    for (let run = 0; run < 2; run++) {
      // Two apps at once, twice: concurrent and repeated reconciliations.
      const apps = [createWorkerApp({ config, logger }), createWorkerApp({ config, logger })];
      await Promise.all(apps.map((app) => app.started));
      await waitFor(async () => (await bed.db.failedJobs.list({ queue: 'email', jobId })).length === 1, { what: 'the reconciled row' });
      await waitFor(() => alertsFor(jobId).length >= 1, { what: 'the reconciled alert' });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await Promise.all(apps.map((app) => app.stop()));
    }
    expect(await bed.db.failedJobs.list({ queue: 'email', jobId })).toHaveLength(1);
    expect(alertsFor(jobId)).toHaveLength(1);
  }, 40_000);
});
