// Issue 28, items 1 and 5, end to end: the real worker (in this process) runs jobs on the real
// Redis, counts their wait and run times in memory and adds them to Redis about once a second;
// queues-ui's /metrics renders them, and the CLI's stats read (QueueAdmin.recentWait) sees the
// same waits. Restarting queues-ui and the worker resets none of the counts.
import { loadQueuesConfig, QueueAdmin, QueueClient } from '@ceres/queues';
import { hasPromtool, promtool, waitFor } from '@ceres/testing';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../apps/queues-ui/src/app';
import { createWorkerApp, type WorkerApp } from '../apps/worker/src/app';
import { createLogger } from '../apps/worker/src/deps/logger';
import { configFor, useTestBed, waitForState, workerEnv } from '../apps/worker/tests/helpers/harness';

const bed = useTestBed();
const AUTH = { user: 'ops', pass: 'correct horse battery staple' };
const authorization = `Basic ${Buffer.from(`${AUTH.user}:${AUTH.pass}`).toString('base64')}`;

interface Ui {
  app: FastifyInstance;
  client: QueueClient;
  close(): Promise<void>;
}

const uis: Ui[] = [];
afterEach(async () => {
  await Promise.all(uis.splice(0).map((ui) => ui.close()));
});

async function startWorker(env: Record<string, string>): Promise<WorkerApp> {
  const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent'), schedulers: false });
  bed.apps.push(app);
  await app.started;
  return app;
}

async function stopWorker(app: WorkerApp): Promise<void> {
  bed.apps.splice(bed.apps.indexOf(app), 1);
  await app.stop();
}

async function startUi(env: Record<string, string>): Promise<Ui> {
  const client = new QueueClient({ config: loadQueuesConfig(env), connectionName: 'queues-ui-test', onWarning: () => {} });
  await client.ready();
  const app = buildApp({ client, auth: AUTH });
  await app.ready();
  const ui = {
    app,
    client,
    close: async () => {
      await app.close();
      await client.close();
    },
  };
  uis.push(ui);
  return ui;
}

async function scrape(ui: Ui): Promise<string> {
  const response = await ui.app.inject({ method: 'GET', url: '/metrics', headers: { authorization } });
  expect(response.statusCode).toBe(200);
  return response.body;
}

/** The value of one series in a scrape, the whole line matched; undefined when it is not there. */
function value(text: string, series: string): number | undefined {
  const found = new RegExp(`^${series.replace(/[{}()[\]|.+*?^$\\]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1];
  return found === undefined ? undefined : Number(found);
}

const wait = (tenant: string, suffix: string) => `ceres_job_wait_seconds_${suffix}{queue="slack",job="alert",tenant="${tenant}"`;
const waitBucket = (tenant: string, le: string) => `${wait(tenant, 'bucket')},le="${le}"}`;
const waitCount = (tenant: string) => `${wait(tenant, 'count')}}`;
const run = (tenant: string, outcome: string, suffix: 'count' | 'sum') =>
  `ceres_job_run_seconds_${suffix}{queue="slack",job="alert",tenant="${tenant}",outcome="${outcome}"}`;

describe('job wait and run times (ceres_job_wait_seconds, ceres_job_run_seconds)', () => {
  it('counts every started attempt once, a delayed job and a retry from their due time, and a failed attempt by its outcome', async () => {
    const env = workerEnv(bed.peers);
    const worker = await startWorker(env);
    const ui = await startUi(env);
    const queues = bed.producer(env);
    const slack = queues.getQueue('slack');

    // A first attempt that fails (Slack answers 500), retried on the schedule's first step (1 s).
    bed.peers.slack.setStatus(500);
    const flaky = await queues.enqueue('slack/alert', { text: 'flaky' }, { tenant: 'flaky' });
    await waitFor(async () => (await slack.getJob(flaky.jobId))?.attemptsMade === 1, { what: 'the failed first attempt' });
    bed.peers.slack.setStatus(200);
    const delayMs = 3_000;
    const enqueued = [
      flaky,
      ...(await Promise.all([1, 2, 3].map((n) => queues.enqueue('slack/alert', { text: `now ${n}` })))),
      // Due 3 s after its enqueue: its wait runs from then, not from the enqueue.
      await queues.enqueue('slack/alert', { text: 'later' }, { tenant: 'late', delay: delayMs }),
    ];
    for (const { jobId } of enqueued) await waitForState(slack, jobId, 'completed', 20_000);
    const late = (await slack.getJob(enqueued[4]!.jobId))!;
    // It did start after its delay: a wait counted from the enqueue would be ≥ 3 s.
    expect(late.processedOn! - late.timestamp).toBeGreaterThanOrEqual(delayMs);

    // The worker adds its counts to Redis about a second after the last job.
    let text = '';
    await waitFor(
      async () => {
        text = await scrape(ui);
        return value(text, waitCount('default')) === 3 && value(text, waitCount('flaky')) === 2 && value(text, waitCount('late')) === 1;
      },
      { timeoutMs: 15_000, what: `the wait counts of the 6 started attempts in /metrics:\n${text}` },
    );
    // Every wait within a second on an idle worker (generous for a loaded machine): the delayed
    // job's and the retry's from their due time, not their enqueue (3 s and more, 1 s and more).
    expect(value(text, waitBucket('late', '1'))).toBe(1);
    expect(value(text, waitBucket('flaky', '1'))).toBe(2);
    expect(value(text, waitBucket('default', '1'))).toBe(3);
    expect(value(text, `${wait('late', 'sum')}}`)).toBeLessThan(1);
    // Buckets are cumulative and end with +Inf = count.
    expect(value(text, waitBucket('default', '+Inf'))).toBe(3);
    expect(value(text, waitBucket('default', '0.001'))).toBeLessThanOrEqual(value(text, waitBucket('default', '1'))!);
    // Run times by outcome: the failed attempt and the five completed ones.
    expect(value(text, run('flaky', 'failed', 'count'))).toBe(1);
    expect(value(text, run('flaky', 'completed', 'count'))).toBe(1);
    expect(value(text, run('default', 'completed', 'count'))).toBe(3);
    expect(value(text, run('late', 'completed', 'count'))).toBe(1);
    expect(value(text, run('default', 'failed', 'count'))).toBeUndefined();
    expect(value(text, run('default', 'completed', 'sum'))).toBeGreaterThanOrEqual(0);
    expect(value(text, run('default', 'completed', 'sum'))).toBeLessThan(10);
    // One HELP/TYPE per family.
    expect(text.match(/^# TYPE ceres_job_wait_seconds histogram$/gm)).toHaveLength(1);
    expect(text.match(/^# TYPE ceres_job_run_seconds histogram$/gm)).toHaveLength(1);
    // The buckets the contract names, 1 ms to 30 min.
    const les = [...text.matchAll(/^ceres_job_wait_seconds_bucket\{queue="slack",job="alert",tenant="default",le="([^"]+)"\}/gm)].map(
      (m) => m[1],
    );
    expect(les).toEqual([
      '0.001',
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '0.5',
      '1',
      '2.5',
      '5',
      '10',
      '30',
      '60',
      '120',
      '300',
      '600',
      '1200',
      '1800',
      '+Inf',
    ]);

    // The workers and Redis's memory.
    expect(value(text, 'ceres_queue_workers{queue="slack"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'ceres_redis_memory_used_bytes')).toBeGreaterThan(0);
    if (hasPromtool()) {
      const checked = await promtool(['check', 'metrics'], { input: text });
      expect(checked.output).toBe('');
      expect(checked.code).toBe(0);
    }

    // The CLI's stats read the same waits from the minute histograms.
    const recent = await new QueueAdmin(queues).recentWait('slack');
    expect(recent.started).toBe(6);
    expect(recent.p95Seconds).toBeLessThanOrEqual(1);

    await stopWorker(worker);
    await waitFor(async () => value(await scrape(ui), 'ceres_queue_workers{queue="slack"}') === 0, {
      what: 'no slack worker once the worker stopped',
    });
  }, 60_000);

  it('keeps the completed/failed counters and the histograms across a restart of queues-ui and of the worker', async () => {
    const env = workerEnv(bed.peers);
    let worker = await startWorker(env);
    let ui = await startUi(env);
    const queues = bed.producer(env);
    const slack = queues.getQueue('slack');
    const runJobs = async (texts: string[]) => {
      const added = await Promise.all(texts.map((text) => queues.enqueue('slack/alert', { text })));
      for (const { jobId } of added) await waitForState(slack, jobId, 'completed');
    };
    await runJobs(['one', 'two']);
    const untilCounted = async (completed: number) => {
      let text = '';
      await waitFor(
        async () => {
          text = await scrape(ui);
          return (
            value(text, 'ceres_queue_jobs_completed_total{queue="slack"}') === completed &&
            value(text, waitCount('default')) === completed &&
            value(text, run('default', 'completed', 'count')) === completed
          );
        },
        { timeoutMs: 15_000, what: `${completed} completed jobs in the counters and histograms:\n${text}` },
      );
      return text;
    };
    await untilCounted(2);

    // Both processes restart: nothing was in their memory that the counts need.
    await stopWorker(worker);
    await ui.close();
    uis.splice(uis.indexOf(ui), 1);
    ui = await startUi(env);
    const afterUi = await scrape(ui);
    expect(value(afterUi, 'ceres_queue_jobs_completed_total{queue="slack"}')).toBe(2);
    expect(value(afterUi, waitCount('default'))).toBe(2);
    expect(value(afterUi, run('default', 'completed', 'count'))).toBe(2);
    worker = await startWorker(env);
    await runJobs(['three']);
    await untilCounted(3);
    await stopWorker(worker);
  }, 60_000);
});
