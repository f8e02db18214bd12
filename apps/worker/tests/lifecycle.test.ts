import { withTimeout } from '@ceres/app-kit';
import { startRedisServer, waitFor } from '@ceres/testing';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createWorkerApp } from '../src/app';
import { EventEmitter } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { QueueName } from '@ceres/queues';
import { StallWatchdog, type WatchedRunner } from '../src/stall-watchdog';
import type { RunnerEvents } from '../src/runner/job-runner';
import { processors } from '../src/processors';
import { createLogger } from '../src/deps/logger';
import { configFor, promoteUntilFinished, spawnWorker, waitForState, workerEnv, useTestBed } from './helpers/harness';

// Servers of its own: its tests stop and restart Redis.
const bed = useTestBed({ ownServers: true });

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
    await waitFor(() => worker.logs.some((entry) => entry.msg === 'stopping: waiting for active jobs to finish'), {
      what: 'the signal handled',
    });
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

/**
 * While Redis is stopped, a listener on its port that counts the connections made to it and resets
 * each at once: the reconnect attempts, refused as a stopped server would.
 */
async function countReconnects(port: number): Promise<{ count(): number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    count++;
    socket.on('error', () => {});
    socket.resetAndDestroy();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  return {
    count: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('stop while Redis is unreachable', () => {
  const linesOf = (logs: Array<Record<string, unknown>>, msg: string) => logs.filter((line) => String(line.msg).startsWith(msg));

  it('an outage is logged once when it starts and once when it ends, not per queue per reconnect attempt', async () => {
    const env = workerEnv(bed.peers);
    const worker = spawnWorker(env);
    bed.children.push(worker);
    await worker.ready;
    await bed.peers.redis.stop();
    try {
      // Reconnect attempts back off from 100 ms to 2 s: several per queue (the old wait, 4 s, saw
      // dozens); 30 of them, refused, before Redis comes back.
      const attempts = await countReconnects(bed.peers.redis.port);
      try {
        await waitFor(() => attempts.count() >= 30, { timeoutMs: 15_000, what: '30 reconnect attempts' });
      } finally {
        await attempts.close();
      }
    } finally {
      await bed.peers.redis.start();
    }
    await waitFor(() => linesOf(worker.logs, 'redis is reachable again').length > 0, {
      timeoutMs: 10_000,
      what: 'the end of the outage logged',
    });
    expect(linesOf(worker.logs, 'redis connection lost')).toHaveLength(1);
    expect(linesOf(worker.logs, 'redis is reachable again')).toHaveLength(1);
    expect(linesOf(worker.logs, 'worker error')).toEqual([]);
    // Still working afterwards.
    const queues = bed.producer(env);
    const { jobId } = await queues.enqueue('slack/alert', { text: 'after the outage', dedupeKey: 'after-outage' });
    await waitForState(queues.getQueue('slack'), jobId, 'completed', 15_000);
  }, 40_000);

  it('SIGTERM with no job active: the process exits at once', async () => {
    const env = workerEnv(bed.peers);
    const worker = spawnWorker(env);
    bed.children.push(worker);
    await worker.ready;
    await bed.peers.redis.stop();
    try {
      await waitFor(() => linesOf(worker.logs, 'redis connection lost').length > 0, { what: 'the outage noticed' });
      const signalledAt = Date.now();
      worker.child.kill('SIGTERM');
      const { code } = await withTimeout(worker.exited, 5_000, 'the worker to exit');
      expect(code).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(2_000);
    } finally {
      await bed.peers.redis.start();
    }
  }, 30_000);

  it('SIGTERM with a job active: waits only while it can still finish (its lock), then exits 1 saying what is left to the stalled-job check', async () => {
    // A Redis of its own with the append-only file, so that the job is still there after the restart.
    const redis = await startRedisServer({ appendOnly: true });
    onTestFinished(() => redis.close());
    const env = workerEnv(bed.peers, { REDIS_URL: redis.url });
    const worker = spawnWorker(env);
    bed.children.push(worker);
    await worker.ready;
    const queues = bed.producer(env);
    bed.peers.slack.setDelay(8_000);
    const { jobId } = await queues.enqueue('slack/alert', { text: 'in flight in the outage', dedupeKey: 'outage-in-flight' });
    await waitFor(() => requestsFor('in flight in the outage').length === 1, { what: 'the job in flight' });
    await redis.stop();
    try {
      worker.child.kill('SIGTERM');
      // WORKER_LOCK_DURATION_MS is 2 s here: past it another worker may run the job anyway.
      const { code } = await withTimeout(worker.exited, 6_000, 'the worker to exit');
      expect(code).toBe(1);
      const left = linesOf(worker.logs, 'stopped with jobs left to the stalled-job check');
      expect(left).toHaveLength(1);
      expect(left[0]).toMatchObject({ jobs: [{ queue: 'slack', jobId }] });
    } finally {
      await redis.start();
    }
    // And the stalled-job check of the next worker does run it.
    bed.peers.slack.setDelay(0);
    const next = spawnWorker(env);
    bed.children.push(next);
    await next.ready;
    await waitForState(queues.getQueue('slack'), jobId, 'completed', 15_000);
  }, 60_000);
  it('a second signal during the outage, with a job active: exits 1 at once', async () => {
    const env = workerEnv(bed.peers, { WORKER_LOCK_DURATION_MS: '20000' });
    const worker = spawnWorker(env);
    bed.children.push(worker);
    await worker.ready;
    const queues = bed.producer(env);
    bed.peers.slack.setDelay(8_000);
    await queues.enqueue('slack/alert', { text: 'second signal in the outage', dedupeKey: 'outage-second-signal' });
    await waitFor(() => requestsFor('second signal in the outage').length === 1, { what: 'the job in flight' });
    await bed.peers.redis.stop();
    try {
      worker.child.kill('SIGTERM');
      await waitFor(() => linesOf(worker.logs, 'stopping: waiting for active jobs to finish').length > 0, {
        what: 'the first signal handled',
      });
      const signalledAt = Date.now();
      worker.child.kill('SIGTERM');
      const { code } = await withTimeout(worker.exited, 5_000, 'the worker to exit');
      expect(code).toBe(1);
      expect(Date.now() - signalledAt).toBeLessThan(3_000);
    } finally {
      await bed.peers.redis.start();
    }
  }, 30_000);
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
    const lines: Array<Record<string, unknown>> = [];
    const app = createWorkerApp({
      config: configFor(env),
      logger: createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) }),
    });
    bed.apps.push(app);
    await app.started;
    const before = bed.producer(env);
    const first = await before.enqueue('slack/alert', { text: 'before the restart', dedupeKey: 'before-restart' });
    await waitForState(before.getQueue('slack'), first.jobId, 'completed');

    await bed.peers.redis.stop();
    await waitFor(() => lines.some((line) => String(line.msg).startsWith('redis connection lost')), { what: 'the worker to notice' });
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
          ...processors.slack,
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
    // slack: the standard schedule's 6 attempts, each delayed retry promoted.
    const job = await promoteUntilFinished(queues.getQueue('slack'), jobId, 20_000);
    expect(job.attemptsMade).toBe(6);
    expect(job.failedReason).toBe('job timed out after 300 ms');
    expect(signals).toHaveLength(6);
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
          ...processors.slack,
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
  it("a job the admit hook refuses (the CLI's --once budget) goes back to wait as it was, personal fields or not; no attempt used", async () => {
    const env = workerEnv(bed.peers);
    const asked: QueueName[] = [];
    let open = false;
    const app = createWorkerApp({
      config: configFor(env),
      logger: createLogger('silent'),
      queues: ['email'],
      admit: (queue) => (asked.push(queue), open),
    });
    bed.apps.push(app);
    await app.started;
    const queues = bed.producer(env);
    const email = queues.getQueue('email');
    // email/welcome has personal fields: the processor would get a plain view, not the BullMQ job.
    const { jobId } = await queues.enqueue('email/welcome', { userId: 'admit-1', email: 'admit-1@example.com', firstName: 'A' });
    await waitFor(() => asked.length >= 2, { what: 'the job taken and refused twice' });
    const job = await email.getJob(jobId);
    expect(['waiting', 'active']).toContain(await job!.getState());
    expect(job!.attemptsMade).toBe(0);
    expect(await email.getJobCountByTypes('failed', 'delayed')).toBe(0);
    expect(bed.peers.smtp.messages).toHaveLength(0);
    open = true;
    const done = await waitForState(email, jobId, 'completed');
    expect(done.attemptsMade).toBe(1);
    expect(bed.peers.smtp.messages).toHaveLength(1);
  });
});

describe('a worker that stops taking jobs', () => {
  it('takes jobs again after its blocking connections are killed (CLIENT KILL)', async () => {
    const env = workerEnv(bed.peers, { WORKER_STALL_CHECK_MS: '1000' });
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
    bed.apps.push(app);
    await app.started;
    const queues = bed.producer(env);
    await waitForState(
      queues.getQueue('slack'),
      (await queues.enqueue('slack/alert', { text: 'before', dedupeKey: 'kill-before' })).jobId,
      'completed',
    );
    const admin = new Redis(`${bed.peers.redis.url}/5`);
    try {
      const clients = String(await admin.client('LIST'))
        .split('\n')
        .filter((line) => line.includes('cmd=bzpopmin'));
      expect(clients.length).toBeGreaterThan(0);
      for (const line of clients) await admin.client('KILL', 'ID', /id=(\d+)/.exec(line)![1]!);
    } finally {
      admin.disconnect();
    }
    const after = await queues.enqueue('slack/alert', { text: 'after', dedupeKey: 'kill-after' });
    await waitForState(queues.getQueue('slack'), after.jobId, 'completed', 10_000);
  });

  it('is rebuilt by the stall check when it silently takes nothing', async () => {
    const env = workerEnv(bed.peers, { WORKER_STALL_CHECK_MS: '600' });
    const stalled: string[] = [];
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    const app = createWorkerApp({ config: configFor(env), logger, onStall: (queue: string) => stalled.push(queue) });
    bed.apps.push(app);
    await app.started;
    // A worker that stops fetching without an error, as after the lost blocking connection of
    // taskforcesh/bullmq#4378: here it is closed behind the runner's back.
    const original = app.runner.workers.get('slack')!;
    await original.close(true);
    const queues = bed.producer(env);
    const { jobId } = await queues.enqueue('slack/alert', { text: 'stalled', dedupeKey: 'stalled-1' });
    await waitForState(queues.getQueue('slack'), jobId, 'completed', 10_000);
    expect(app.runner.workers.get('slack')).not.toBe(original);
    expect(
      lines.some((line) => line.msg === 'worker stalled: jobs wait but none was taken; rebuilding the worker' && line.queue === 'slack'),
    ).toBe(true);
    expect(stalled).toEqual([]);
  });
});

/** A runner that never started a job: what the watchdog sees of a silently stalled one; rebuilds are recorded. */
function runnerOf(queues: QueueName[], freeSlot: () => boolean, calls: string[]): WatchedRunner {
  return Object.assign(new EventEmitter<RunnerEvents>(), {
    queues,
    hasFreeSlot: freeSlot,
    rebuild: async (queue: QueueName) => void calls.push(`restart ${queue}`),
  });
}

describe('the stall check', () => {
  it('rebuilds a stalled worker once, then gives up (onStall) when the rebuild did not help', async () => {
    const env = workerEnv(bed.peers);
    const queues = bed.producer(env);
    const slack = queues.getQueue('slack');
    await slack.add('alert', { text: 'nobody takes me' });
    const calls: string[] = [];
    const watchdog = new StallWatchdog(
      runnerOf(['slack'], () => true, calls),
      {
        intervalMs: 200,
        logger: createLogger('silent'),
        limiterMax: () => 1,
        queue: () => slack,
      },
    ).start();
    watchdog.on('gaveUp', (queue) => void calls.push(`give up ${queue}`));
    try {
      await waitFor(() => calls.length >= 2, { timeoutMs: 5_000, what: 'two looks' });
      expect(calls.slice(0, 2)).toEqual(['restart slack', 'give up slack']);
    } finally {
      watchdog.stop();
    }
  });

  it('leaves alone a queue with nothing waiting, an operator-paused queue and a busy worker', async () => {
    const env = workerEnv(bed.peers);
    const queues = bed.producer(env);
    const calls: string[] = [];
    const base = { intervalMs: 150, logger: createLogger('silent'), limiterMax: () => 1 };
    const email = queues.getQueue('email');
    const files = queues.getQueue('files');
    await files.pause();
    await files.add('validate-cv', { userId: 'u', fileKey: 'a.pdf' });
    const maintenance = queues.getQueue('maintenance');
    await maintenance.add('daily-report', {});
    // Each look asks its runner for a free slot first: 5 asks, 4 looks over.
    const looks = { email: 0, files: 0, maintenance: 0 };
    const watchdogs = [
      new StallWatchdog(
        runnerOf(['email'], () => (looks.email++, true), calls),
        { ...base, queue: () => email },
      ),
      new StallWatchdog(
        runnerOf(['files'], () => (looks.files++, true), calls),
        { ...base, queue: () => files },
      ),
      new StallWatchdog(
        runnerOf(['maintenance'], () => (looks.maintenance++, false), calls),
        { ...base, queue: () => maintenance },
      ),
    ].map((watchdog) => watchdog.start());
    for (const watchdog of watchdogs) watchdog.on('gaveUp', (queue) => void calls.push(queue));
    await waitFor(() => Object.values(looks).every((count) => count >= 5), { what: '4 looks of each watchdog' });
    watchdogs.forEach((watchdog) => watchdog.stop());
    await files.resume();
    expect(calls).toEqual([]);
  });

  it('a worker started during a back-pressure pause holds the queue too (it reads the pause when it connects)', async () => {
    const env = workerEnv(bed.peers);
    const queues = bed.producer(env);
    await queues.pauseQueue('email', 2_500);
    const pausedAt = Date.now();
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
    bed.apps.push(app);
    await app.started;
    await queues.enqueue('email/welcome', { userId: 'late-1', email: 'late@example.com', firstName: 'L' });
    const [mail] = await bed.peers.smtp.waitForMessages(1, 10_000);
    expect(mail!.receivedAt - pausedAt).toBeGreaterThanOrEqual(2_000);
  }, 20_000);

  it('leaves alone a queue whose jobs wait for its rate limit, or for a back-pressure pause', async () => {
    // One alert per 2 s and a look every 500 ms: the worker takes nothing for 2 s at a time.
    const env = workerEnv(bed.peers, { WORKER_STALL_CHECK_MS: '500', SLACK_RATE_PER_SECOND: '0.5' });
    const stalled: string[] = [];
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    const app = createWorkerApp({ config: configFor(env), logger, onStall: (queue: string) => stalled.push(queue) });
    bed.apps.push(app);
    await app.started;
    const queues = bed.producer(env);
    // email has no rate of its own; a pause (what a throttled processor asks for) holds it anyway.
    await queues.pauseQueue('email', 3_000);
    const pausedAt = Date.now();
    await queues.enqueue('email/welcome', { userId: 'paused-1', email: 'paused@example.com', firstName: 'P' });
    for (const n of [1, 2, 3, 4]) await queues.enqueue('slack/alert', { text: `limited ${n}`, dedupeKey: `limited-${n}` });
    await waitFor(() => requestsFor('limited').length === 4, { timeoutMs: 15_000, what: 'the four alerts' });
    const [mail] = await bed.peers.smtp.waitForMessages(1, 10_000);
    expect(mail!.receivedAt - pausedAt).toBeGreaterThanOrEqual(2_500);
    expect(
      lines.filter((line) => String(line.msg).startsWith('worker stalled') || String(line.msg).startsWith('worker still stalled')),
    ).toEqual([]);
    expect(stalled).toEqual([]);
  }, 30_000);
});
