import { loadQueuesConfig, subscribeToBreakers, type BreakerView } from '@ceres/queues';
import { startTcpProxy, waitFor, type TcpProxy } from '@ceres/testing';
import type { Job } from 'bullmq';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app';
import { BreakerBoard, type BreakerAdmission } from '../src/breakers/board';
import { dependencyOutcome } from '../src/breakers/outcome';
import { createLogger } from '../src/deps/logger';
import { createMailer } from '../src/deps/mailer';
import { configFor, spawnWorker, useTestBed, workerEnv, type WorkerProcess } from './helpers/harness';

const bed = useTestBed();
const silent = pino({ level: 'silent' });
const proxies: TcpProxy[] = [];
const boards: BreakerBoard[] = [];

afterEach(async () => {
  await Promise.all(boards.splice(0).map((board) => board.stop()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

/** What nodemailer and the mailer make of a refused connection (as classified by the runner). */
const refused = () =>
  new Error('transient SMTP error: connect ECONNREFUSED', { cause: Object.assign(new Error('refused'), { code: 'ESOCKET' }) });

const breakerOf = async (board: { store: { breakers(): Promise<BreakerView[]> } }, dependency = 'smtp') =>
  (await board.store.breakers()).find((breaker) => breaker.dependency === dependency);

describe('the breaker shared by two processes (two boards, two Redis connections)', () => {
  it('counts consecutive failures, opens once, lets one probe through, reopens on its failure, closes on its success', async () => {
    const env = workerEnv(bed.peers);
    const config = loadQueuesConfig(env);
    const [clientA, clientB] = [bed.producer(env), bed.producer(env)];
    await Promise.all([clientA.ready(), clientB.ready()]);
    const settings = { failures: 3, coolDownMs: 1_000 };
    const a = new BreakerBoard(clientA.store, settings, silent).start(config);
    const b = new BreakerBoard(clientB.store, settings, silent).start(config);
    boards.push(a, b);
    const transitions: string[] = [];
    for (const board of [a, b]) board.on('transition', (dependency, transition) => transitions.push(`${dependency} ${transition}`));
    const store = { store: clientA.store };

    // Two failures, then an answer seen by the other process: the count starts again.
    await a.finished('smtp', 'j1', false, refused());
    await b.finished('smtp', 'j2', false, refused());
    expect((await breakerOf(store))?.failures).toBe(2);
    await waitFor(
      async () => {
        await b.finished('smtp', 'j3', false);
        return (await breakerOf(store))?.failures === 0;
      },
      { timeoutMs: 10_000, what: 'the answer to reset the shared count' },
    );
    // A recipient's refusal is an answer too: it does not count.
    const bounce = Object.assign(new Error('permanent SMTP 550'), { cause: Object.assign(new Error('550'), { responseCode: 550 }) });
    await a.finished('smtp', 'j4', false, bounce);
    // Nothing counted: an answer costs no Redis command.
    expect(a.finished('smtp', 'j4b', false)).toBeUndefined();
    expect((await breakerOf(store))?.failures ?? 0).toBe(0);

    // Three in a row, from both: opened once, seen by both.
    await Promise.all([
      a.finished('smtp', 'j5', false, refused()),
      b.finished('smtp', 'j6', false, refused()),
      a.finished('smtp', 'j7', false, refused()),
    ]);
    await waitFor(() => a.stateOf('smtp') === 'open' && b.stateOf('smtp') === 'open', { timeoutMs: 10_000, what: 'both to see it open' });
    expect(transitions).toEqual(['smtp opened']);
    // Open: decided in memory (no promise, no Redis), the job waits for the rest of the cool-down.
    const held = a.admit('smtp', 'j8') as BreakerAdmission;
    expect(held).not.toBeInstanceOf(Promise);
    expect(held).toMatchObject({ state: 'open' });
    expect(held.wait).toBeGreaterThan(0);
    expect(held.wait).toBeLessThanOrEqual(settings.coolDownMs);
    // Another dependency is not affected.
    expect(a.admit('slack', 'j9')).toEqual({ wait: 0, probe: false });

    // After the cool-down, both ask at once: one probe.
    // (Redis and the test share the machine's clock.)
    const probeTime = async () => {
      const { openUntil } = (await breakerOf(store))!;
      await waitFor(() => Date.now() > openUntil + 20, { timeoutMs: 10_000, what: 'the cool-down to end' });
    };
    await probeTime();
    const [first, second] = await Promise.all([a.admit('smtp', 'p1'), b.admit('smtp', 'p2')]);
    const probes = [first, second].filter((admission) => 'probe' in admission && admission.probe);
    expect(probes).toHaveLength(1);
    const [prober, probeId] = 'probe' in first && first.probe ? [a, 'p1'] : [b, 'p2'];
    expect([first, second].find((admission) => 'state' in admission)).toMatchObject({ state: 'half-open' });
    // The probe fails: open again for the cool-down, no new "opened" transition.
    const again = await prober.finished('smtp', probeId, true, refused());
    expect(again?.reopenedForMs).toBeGreaterThan(0);
    expect((await breakerOf(store))?.state).toBe('open');
    expect(transitions).toEqual(['smtp opened']);

    // The next probe succeeds: closed once, seen by both.
    await probeTime();
    const next = await b.admit('smtp', 'p3');
    expect(next).toEqual({ wait: 0, probe: true });
    await b.finished('smtp', 'p3', true);
    await waitFor(() => a.stateOf('smtp') === 'closed' && b.stateOf('smtp') === 'closed', {
      timeoutMs: 10_000,
      what: 'both to see it closed',
    });
    expect(transitions).toEqual(['smtp opened', 'smtp closed']);
    expect(await breakerOf(store)).toMatchObject({ state: 'closed', failures: 0 });
    expect(a.admit('smtp', 'j10')).toEqual({ wait: 0, probe: false });
  }, 30_000);
});

describe('a process that starts while another opens the breaker', () => {
  it('sees it open: subscribed before its snapshot is read, and an announcement newer than the snapshot is not undone by it', async () => {
    const env = workerEnv(bed.peers);
    const config = loadQueuesConfig(env);
    const client = bed.producer(env);
    await client.ready();
    const settings = { failures: 1, coolDownMs: 30_000 };
    const seen: string[] = [];
    // The snapshot is read, then (before its answer is used) another process opens the breaker.
    const subscription = subscribeToBreakers(
      config,
      async () => {
        const before = await client.store.breakers();
        await client.store.breakerStep('fail', 'smtp', settings);
        return before;
      },
      (all) => seen.push(`snapshot: ${all.map((breaker) => `${breaker.dependency} ${breaker.state}`).join(', ') || 'all closed'}`),
      (notice) => seen.push(`${notice.dependency} ${notice.state} v${notice.version}`),
      (error) => seen.push(`error ${String(error)}`),
    );
    try {
      await waitFor(() => seen.length >= 2, { timeoutMs: 10_000, what: 'the snapshot and the announcement' });
      // Applied in this order, the announcement wins.
      expect(seen).toEqual(['snapshot: all closed', 'smtp open v1']);
    } finally {
      await subscription.close();
    }
    // The board built on it ends up open.
    const board = new BreakerBoard(client.store, settings, silent).start(config);
    boards.push(board);
    await waitFor(() => board.stateOf('smtp') === 'open', { timeoutMs: 10_000, what: 'the board to see it open' });
  }, 20_000);
});

describe('what counts as a transport failure', () => {
  it("a real refused connection is down; a recipient's 5xx from the real relay is not, and opens no breaker", async () => {
    const proxy = await startTcpProxy(bed.peers.smtp.port);
    proxies.push(proxy);
    await proxy.refuse();
    const mailer = createMailer({
      smtpUrl: `smtp://127.0.0.1:${proxy.port}`,
      outboxDir: '/nonexistent',
      from: 'Ceres <no-reply@ceres.example>',
    });
    const error = await mailer.send({ to: 'someone@example.com', subject: 's', text: 't' }).catch((caught: unknown) => caught);
    mailer.close();
    expect(dependencyOutcome(error)).toBe('down');

    const env = workerEnv(bed.peers, { WORKER_BREAKER_FAILURES: '2' });
    bed.peers.smtp.setRules([{ match: /^bounce-/, code: 550 }]);
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
    bed.apps.push(app);
    await app.started;
    const queues = bed.producer(env);
    const email = queues.getQueue('email');
    const bounces = await queues.enqueueBulk(
      'email/welcome',
      Array.from({ length: 6 }, (_, n) => ({ userId: `bounce-${n}`, email: `bounce-${n}@example.com`, firstName: 'B' })),
    );
    await waitFor(async () => (await email.getFailedCount()) === bounces.length, { timeoutMs: 20_000, what: 'every bounce failed' });
    expect(bed.peers.smtp.refused).toHaveLength(6);
    const breaker = (await queues.store.breakers()).find((b) => b.dependency === 'smtp');
    expect(breaker?.state ?? 'closed').toBe('closed');
    expect(breaker?.failures ?? 0).toBe(0);
    // The lane still runs.
    await queues.enqueue('email/welcome', { userId: 'after-bounces', email: 'after-bounces@example.com', firstName: 'A' });
    await bed.peers.smtp.waitForMessages(1, 15_000);
  }, 45_000);
});

describe("the Slack webhook's own breaker", () => {
  it('a webhook answering 503 opens it; its transitions are logged, never alerted; every alert is posted once it answers', async () => {
    const env = workerEnv(bed.peers, { WORKER_BREAKER_FAILURES: '2', WORKER_BREAKER_COOLDOWN_MS: '1000' });
    bed.peers.slack.setStatus(503);
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent'), queues: ['slack'] });
    bed.apps.push(app);
    await app.started;
    const queues = bed.producer(env);
    const slackBreaker = async () => (await queues.store.breakers()).find((breaker) => breaker.dependency === 'slack');
    for (let n = 0; n < 4; n++) await queues.enqueue('slack/alert', { text: `disk ${n} almost full`, dedupeKey: `disk-${n}` });
    await waitFor(async () => (await slackBreaker())?.state === 'open', { timeoutMs: 15_000, what: "the webhook's breaker to open" });
    bed.peers.slack.setStatus(200);
    await waitFor(() => bed.peers.slack.requests.filter((request) => request.status === 200).length >= 4, {
      timeoutMs: 20_000,
      what: 'every alert posted',
    });
    await waitFor(async () => (await slackBreaker())?.state === 'closed', { timeoutMs: 10_000, what: "the webhook's breaker to close" });
    const posted = bed.peers.slack.requests.filter((request) => request.status === 200).map((request) => JSON.stringify(request.body));
    expect(posted).toHaveLength(4);
    expect(posted.filter((body) => body.includes('Circuit breaker'))).toEqual([]);
    const slack = queues.getQueue('slack');
    const jobs = await slack.getJobs(['completed', 'waiting', 'delayed', 'failed', 'active']);
    expect(jobs.filter((job) => String((job.data as { dedupeKey?: string }).dedupeKey ?? '').startsWith('breaker-'))).toEqual([]);
    expect(await slack.getFailedCount()).toBe(0);
  }, 45_000);
});

describe('SMTP refusing connections for 60 s during 200 mails, two worker processes', () => {
  it('0 dead letters, every mail delivered once after recovery, no attempt spent while open, one "opened" and one "closed" alert', async () => {
    const failures = 5;
    const coolDownMs = 10_000;
    const proxy = await startTcpProxy(bed.peers.smtp.port);
    proxies.push(proxy);
    const env = workerEnv(bed.peers, {
      SMTP_URL: `smtp://127.0.0.1:${proxy.port}`,
      WORKER_BREAKER_FAILURES: String(failures),
      WORKER_BREAKER_COOLDOWN_MS: String(coolDownMs),
    });
    const workers: WorkerProcess[] = [spawnWorker(env), spawnWorker(env)];
    bed.children.push(...workers);
    await Promise.all(workers.map((worker) => worker.ready));
    const queues = bed.producer(env);
    const email = queues.getQueue('email');
    const startedAt = Date.now();
    const total = 200;
    const results = await queues.enqueueBulk(
      'email/welcome',
      Array.from({ length: total }, (_, n) => ({ userId: `outage-${n}`, email: `outage-${n}@example.com`, firstName: 'O' })),
    );
    // Some go out, then the relay refuses every connection (and drops the pooled ones).
    await waitFor(() => bed.peers.smtp.messages.length >= 20, { timeoutMs: 30_000, what: 'the first mails' });
    await proxy.refuse();
    const refusedAt = Date.now();
    const alerts = (word: string) =>
      bed.peers.slack.requests.filter((request) => JSON.stringify(request.body).includes(`Circuit breaker *smtp* ${word}`));
    await waitFor(() => alerts('opened').length === 1, { timeoutMs: 30_000, what: 'the "opened" alert' });
    const deliveredWhileDown = bed.peers.smtp.messages.length;
    const logs = () => workers.flatMap((worker) => worker.logs);
    // The outage lasts 60 s, during which probes keep failing (no attempt spent by them).
    await waitFor(
      () =>
        Date.now() - refusedAt >= 60_000 &&
        logs().filter((line) => line.msg === 'circuit breaker probe failed: open again for the cool-down').length >= 3,
      { timeoutMs: 90_000, intervalMs: 500, what: 'a 60 s outage with failed probes' },
    );
    expect(await email.getFailedCount()).toBe(0);
    expect(bed.peers.smtp.messages.length).toBe(deliveredWhileDown);
    await proxy.accept();

    await bed.peers.smtp.waitForMessages(total, coolDownMs + 40_000);
    await waitFor(async () => (await email.getCompletedCount()) === total, { timeoutMs: 30_000, what: 'every job completed' });
    const recipients = bed.peers.smtp.messages.map((mail) => mail.envelope.to[0]);
    expect(recipients).toHaveLength(total);
    expect(new Set(recipients).size).toBe(total);
    expect(await email.getFailedCount()).toBe(0);
    // (The bounces of the test before are archived before this one's workers started.)
    expect(await bed.db.failedJobs.countSince(new Date(startedAt))).toEqual({});
    await waitFor(() => alerts('closed').length === 1, { timeoutMs: 15_000, what: 'the "closed" alert' });
    expect(alerts('opened')).toHaveLength(1);

    // Attempts: only the failures the breaker counted while closed (the N that opened it, and any
    // counted before an answer reset the count) spent one; those that failed once it was open
    // (another process opened it while they ran), those taken while open, and the failed probes,
    // spent none.
    const jobs = (await Promise.all(results.map(({ jobId }) => email.getJob(jobId)))) as Job[];
    const extra = jobs.map((job) => job.attemptsMade - 1);
    const failedAttempts = logs().filter((line) => line.msg === 'job attempt failed').length;
    const counted = logs().filter((line) => line.msg === 'circuit breaker counted a transport failure').length;
    expect(extra.every((n) => n >= 0 && n <= 1)).toBe(true);
    expect(extra.reduce((sum, n) => sum + n, 0)).toBe(failedAttempts);
    expect(failedAttempts).toBeGreaterThanOrEqual(failures);
    expect(failedAttempts).toBe(counted);
    const putOff = logs().filter(
      (line) => line.msg === 'circuit breaker probe failed: job back when the breaker lets a probe through again (no attempt used)',
    );
    expect(putOff.length).toBeGreaterThanOrEqual(3);
    const breaker = (await queues.store.breakers()).find((b) => b.dependency === 'smtp');
    expect(breaker).toMatchObject({ state: 'closed', failures: 0 });
  }, 180_000);
});
