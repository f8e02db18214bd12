import { waitFor } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app';
import { processors } from '../src/processors';
import { createLogger } from '../src/deps/logger';
import {
  configFor,
  spawnWorker,
  waitForState,
  workerEnv,
  useTestBed,
} from './helpers/harness';

const bed = useTestBed();

const requestsFor = (text: string) => bed.peers.slack.requests.filter((r) => (r.body as { text?: string }).text?.includes(text));

describe('graceful stop', () => {
  it('SIGTERM with jobs in flight: they complete, nothing new starts, the process exits 0', async () => {
    const env = workerEnv(bed.peers);
    const worker = spawnWorker(env);
    bed.children.push(worker);
    await worker.ready;
    const queues = bed.producer(env);
    // The Slack stand-in answers after 2 s, so the jobs are mid-flight when the signal lands.
    bed.peers.slack.setDelay(2_000);
    const ids = await Promise.all(
      ['a', 'b', 'c'].map(async (n) => (await queues.enqueue('slack/alert', { text: `in-flight ${n}`, dedupeKey: `sigterm-${n}` })).jobId),
    );
    await waitFor(() => requestsFor('in-flight').length === 3, { what: 'three jobs in flight' });
    worker.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const late = await queues.enqueue('slack/alert', { text: 'after the signal', dedupeKey: 'sigterm-late' });

    const { code, signal } = await worker.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const queue = queues.getQueue('slack');
    for (const id of ids) expect(await queue.getJobState(id)).toBe('completed');
    expect(await queue.getJobState(late.jobId)).toBe('waiting');
    expect(requestsFor('after the signal')).toHaveLength(0);
    expect(worker.logs.some((entry) => entry.msg === 'stopped')).toBe(true);
  }, 40_000);
});

describe('crash', () => {
  it('SIGKILL of a worker mid-job: another worker picks the job up through the stalled check', async () => {
    const env = workerEnv(bed.peers);
    const first = spawnWorker(env);
    bed.children.push(first);
    await first.ready;
    const queues = bed.producer(env);
    bed.peers.slack.setDelay(5_000);
    const { jobId } = await queues.enqueue('slack/alert', { text: 'survives a crash', dedupeKey: 'sigkill' });
    await waitFor(() => requestsFor('survives a crash').length === 1, { what: 'the job to be in flight' });
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await queues.getQueue('slack').getJobState(jobId)).toBe('active');
    bed.peers.slack.setDelay(0);

    const second = spawnWorker(env);
    bed.children.push(second);
    await second.ready;
    const job = await waitForState(queues.getQueue('slack'), jobId, 'completed', 20_000);
    expect(job.returnvalue).toEqual({ delivered: 'webhook' });
    // At-least-once: the killed attempt's request went out, then the second worker's.
    expect(requestsFor('survives a crash')).toHaveLength(2);
  }, 60_000);
});

describe('Redis restart', () => {
  it('a running worker reconnects by itself and processes jobs enqueued afterwards', async () => {
    const env = workerEnv(bed.peers);
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
    bed.apps.push(app);
    await app.started;
    const before = bed.producer(env);
    const first = await before.enqueue('slack/alert', { text: 'before the restart', dedupeKey: 'before-restart' });
    await waitForState(before.getQueue('slack'), first.jobId, 'completed');

    await bed.peers.redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await bed.peers.redis.start();

    const after = bed.producer(env);
    const second = await waitFor(() => after.enqueue('slack/alert', { text: 'after the restart', dedupeKey: 'after-restart' }), {
      timeoutMs: 10_000,
      what: 'Redis to take jobs again',
    });
    await waitForState(after.getQueue('slack'), second.jobId, 'completed', 20_000);
    expect(requestsFor('after the restart')).toHaveLength(1);
  }, 40_000);
});

describe('job timeout', () => {
  it('aborts an attempt that outlives its timeout and counts it as failed, even when the processor ignores the signal', async () => {
    const env = workerEnv(bed.peers);
    const signals: AbortSignal[] = [];
    const app = createWorkerApp({
      config: configFor(env),
      logger: createLogger('silent'),
      processors: {
        ...processors,
        slack: {
          // Never settles by itself and ignores the signal.
          alert: (_job, _deps, ctx) => {
            signals.push(ctx.signal);
            return new Promise(() => {});
          },
        },
      },
      timeoutFor: (queue) => (queue === 'slack' ? 300 : 30_000),
    });
    bed.apps.push(app);
    await app.started;
    const queues = bed.producer(env);
    const { jobId } = await queues.enqueue('slack/alert', { text: 'hangs', dedupeKey: 'hangs' });
    // slack: 3 attempts, 2 s apart.
    const job = await waitForState(queues.getQueue('slack'), jobId, 'failed', 15_000);
    expect(job.attemptsMade).toBe(3);
    expect(job.failedReason).toBe('job timed out after 300 ms');
    expect(signals).toHaveLength(3);
    expect(signals.every((signal) => signal.aborted)).toBe(true);
  }, 30_000);
});

describe('what a processor receives', () => {
  it('the deps built once at startup, as a plain object ({ ...deps } copies them all), and a context of its own per attempt', async () => {
    const env = workerEnv(bed.peers);
    const seen: Array<{ deps: object; copy: Record<string, unknown>; ctx: { logger: unknown; signal: AbortSignal } }> = [];
    const app = createWorkerApp({
      config: configFor(env),
      logger: createLogger('silent'),
      processors: {
        ...processors,
        slack: {
          alert: async (_job, deps, ctx) => {
            seen.push({ deps, copy: { ...deps }, ctx });
            return { delivered: 'log' as const };
          },
        },
      },
    });
    bed.apps.push(app);
    await app.started;
    const queues = bed.producer(env);
    for (const key of ['deps-1', 'deps-2']) {
      await waitForState(queues.getQueue('slack'), (await queues.enqueue('slack/alert', { text: key, dedupeKey: key })).jobId, 'completed');
    }
    expect(seen).toHaveLength(2);
    const [first, second] = seen as [(typeof seen)[number], (typeof seen)[number]];
    // The same object for every job, with no prototype chain to read through.
    expect(first.deps).toBe(app.deps);
    expect(second.deps).toBe(app.deps);
    expect(Object.getPrototypeOf(first.deps)).toBe(Object.prototype);
    expect(Object.keys(first.copy).sort()).toEqual(Object.keys(app.deps).sort());
    for (const key of Object.keys(app.deps)) expect(first.copy[key]).toBe((app.deps as unknown as Record<string, unknown>)[key]);
    // The attempt's logger and signal are not deps, and each attempt has its own.
    expect(first.copy).not.toHaveProperty('logger');
    expect(first.copy).not.toHaveProperty('signal');
    expect(first.ctx.signal).not.toBe(second.ctx.signal);
    expect(first.ctx.signal.aborted).toBe(false);
    expect(first.ctx.logger).toBeDefined();
  });
});
