import { spawn, spawnSync } from 'node:child_process';
import { sharedRedis, waitFor, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_AUTH, startStack, startWorker, type Stack } from './helpers/stack';

let redis: RedisPeer;
let stack: Stack;

const hasPromtool = spawnSync('sh', ['-c', 'command -v promtool'], { stdio: 'ignore' }).status === 0;

/** Runs `promtool check metrics` on the text; resolves with its exit code and output. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

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

  it.skipIf(!hasPromtool)('passes promtool check metrics (skipped only when promtool is not installed)', async () => {
    const result = await promtoolCheck(await scrape());
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
    // The check really bites: a gauge named like a counter is refused.
    const bad = await promtoolCheck('# HELP x_total gauge\n# TYPE x_total gauge\nx_total 1\n');
    expect(bad.code).not.toBe(0);
  });
});
