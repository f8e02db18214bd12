import { JobTimings } from '@ceres/queues';
import { hasPromtool, promtool, sharedRedis, waitFor, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_AUTH, startStack, startWorker, type Stack } from './helpers/stack';

let redis: RedisPeer;
let stack: Stack;

beforeAll(async () => {
  redis = sharedRedis();
  stack = await startStack(redis);
  // BullMQ counts completed/failed only for workers started with the `metrics` option (the helper sets it).
  const email = stack.client.getQueue('email');
  const worker = startWorker(stack.config, 'email', async (job) => {
    if (job.data.outcome === 'fail') throw new Error('boom');
    return 'ok';
  });
  await email.add('verify', { outcome: 'ok' });
  await email.add('verify', { outcome: 'ok' });
  await email.add('verify', { outcome: 'fail' }, { attempts: 1 });
  await waitFor(
    async () => {
      const counts = await email.getJobCounts('completed', 'failed');
      return counts.completed === 2 && counts.failed === 1;
    },
    { what: 'two completed and one failed job' },
  );
  await worker.close();
  // Wait and run times as a worker process counts them and adds them to Redis (the real worker's
  // path is tests/job-timings.test.ts): promtool checks the histograms' lines too.
  const timings = new JobTimings();
  timings.observe(email, 'wait', 'verify', 'default', 12);
  timings.observe(email, 'wait', 'verify', 'default', 700);
  timings.observe(email, 'completed', 'verify', 'default', 3);
  timings.observe(email, 'failed', 'verify', 'acme', 40_000);
  await stack.client.store.flushJobTimings(timings);
  await stack.client.getQueue('files').add('validate-cv', { userId: 'u', fileKey: 'cv/a.pdf' }, { delay: 60_000 });
  await stack.client.getQueue('slack').pause();
});

afterAll(async () => {
  await stack?.close();
});

async function scrape(): Promise<string> {
  const response = await stack.app.inject({ method: 'GET', url: '/metrics', headers: GOOD_AUTH });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.body;
}

describe('GET /metrics', () => {
  it('reports per-queue counts by state, paused queues and the completed/failed counters', async () => {
    const text = await scrape();
    expect(text).toContain('ceres_queue_jobs{queue="email",state="completed"} 2');
    expect(text).toContain('ceres_queue_jobs{queue="email",state="failed"} 1');
    expect(text).toContain('ceres_queue_jobs{queue="files",state="delayed"} 1');
    expect(text).toContain('ceres_queue_jobs{queue="maintenance",state="waiting"} 0');
    expect(text).toContain('ceres_queue_paused{queue="slack"} 1');
    expect(text).toContain('ceres_queue_paused{queue="email"} 0');
    expect(text).toContain('# TYPE ceres_queue_jobs_completed_total counter');
    expect(text).toContain('ceres_queue_jobs_completed_total{queue="email"} 2');
    expect(text).toContain('ceres_queue_jobs_failed_total{queue="email"} 1');
    expect(text).toContain('ceres_queue_redis_up 1');
    // One HELP/TYPE per family, whatever the number of queues.
    expect(text.match(/^# TYPE ceres_queue_jobs gauge$/gm)).toHaveLength(1);
    // The worker closed: BullMQ sees no worker connection of the queue.
    expect(text).toContain('ceres_queue_workers{queue="email"} 0');
    expect(Number(/^ceres_redis_memory_used_bytes (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
  });

  it('renders the wait and run time histograms the workers added to Redis, cumulative, by outcome', async () => {
    const text = await scrape();
    const wait = 'ceres_job_wait_seconds_bucket{queue="email",job="verify",tenant="default"';
    expect(text).toContain(`${wait},le="0.01"} 0`);
    expect(text).toContain(`${wait},le="0.025"} 1`);
    expect(text).toContain(`${wait},le="0.5"} 1`);
    expect(text).toContain(`${wait},le="1"} 2`);
    expect(text).toContain(`${wait},le="+Inf"} 2`);
    expect(text).toContain('ceres_job_wait_seconds_sum{queue="email",job="verify",tenant="default"} 0.712');
    expect(text).toContain('ceres_job_wait_seconds_count{queue="email",job="verify",tenant="default"} 2');
    expect(text).toContain('ceres_job_run_seconds_count{queue="email",job="verify",tenant="default",outcome="completed"} 1');
    expect(text).toContain('ceres_job_run_seconds_bucket{queue="email",job="verify",tenant="acme",outcome="failed",le="30"} 0');
    expect(text).toContain('ceres_job_run_seconds_bucket{queue="email",job="verify",tenant="acme",outcome="failed",le="60"} 1');
    expect(text).toContain('ceres_job_run_seconds_sum{queue="email",job="verify",tenant="acme",outcome="failed"} 40');
  });

  it("reports the job ledger's rows waiting in Redis and those dropped at its bound", async () => {
    const store = stack.client.store;
    expect(await store.pushLedgerBatch('[[]]', 3, 4)).toBe(true);
    expect(await store.pushLedgerBatch('[[]]', 2, 4)).toBe(false);
    const text = await scrape();
    expect(text).toContain('# TYPE ceres_job_ledger_pending_rows gauge');
    expect(text).toMatch(/^ceres_job_ledger_pending_rows 3$/m);
    expect(text).toMatch(/^ceres_job_ledger_dropped_total 2$/m);
  });

  it('gives every one of 10 concurrent scrapes the same totals (an HA Prometheus pair scrapes at once)', async () => {
    /** The value of one series, the whole line matched (`… 2` must not match `… 20`). */
    const value = (text: string, series: string) => new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1];
    const texts = await Promise.all(Array.from({ length: 10 }, () => scrape()));
    for (const text of texts) {
      expect(value(text, 'ceres_queue_jobs_completed_total{queue="email"}')).toBe('2');
      expect(value(text, 'ceres_queue_jobs_failed_total{queue="email"}')).toBe('1');
      expect(value(text, 'ceres_queue_jobs{queue="email",state="completed"}')).toBe('2');
      expect(value(text, 'ceres_queue_redis_up')).toBe('1');
    }
    // And the scrape after them is no counter reset.
    expect(value(await scrape(), 'ceres_queue_jobs_completed_total{queue="email"}')).toBe('2');
  });

  it('shows each circuit breaker of the worker: 1 open or half-open, 0 closed; no label outside the dependency names', async () => {
    await stack.client.ready();
    const settings = { failures: 1, coolDownMs: 60_000 };
    expect((await stack.client.store.breakerStep('fail', 'smtp', settings)).result).toBe('opened');
    expect((await stack.client.store.breakerStep('fail', 'smtp:acme', { ...settings, failures: 2 })).result).toBe('counted');
    expect((await stack.client.store.breakerStep('fail', 'not a dependency', settings)).result).toBe('opened');
    const text = await scrape();
    expect(text).toContain('# TYPE ceres_breaker_open gauge');
    expect(text).toContain('ceres_breaker_open{dependency="smtp"} 1');
    expect(text).toContain('ceres_breaker_open{dependency="slack"} 0');
    expect(text).toContain('ceres_breaker_open{dependency="smtp:acme"} 0');
    expect(text).not.toContain('not a dependency');
  });

  it.skipIf(!hasPromtool())('passes promtool check metrics (skipped only when promtool is not installed)', async () => {
    const result = await promtool(['check', 'metrics'], { input: await scrape() });
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
    // The check really bites: a gauge named like a counter is refused.
    const bad = await promtool(['check', 'metrics'], { input: '# HELP x_total gauge\n# TYPE x_total gauge\nx_total 1\n' });
    expect(bad.code).not.toBe(0);
  });
});
