// Issue 28, point 2, end to end: queues-ui's long-wait detector (two instances, as two queues-ui
// processes would run it) over real Redis, real workers (in-process apps and spawned processes),
// a real SMTP sink behind a TCP gate that can stop answering, and an HTTP receiver standing in for
// Slack's webhook. Nothing is paused artificially to make a wait: (a) no mail worker at all, (b) a
// relay that hangs under two worker processes; (c) a queue an operator paused is reported as such.
import { QueueClient, type QueueName } from '@ceres/queues';
import { startTcpProxy, waitFor, type TcpProxy } from '@ceres/testing';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../apps/queues-ui/src/app';
import { loadConfig } from '../apps/queues-ui/src/config';
import { createLogger, createWorkerApp } from '../apps/worker/src';
import { configFor, spawnWorker, useTestBed, waitForIdle, workerEnv } from '../apps/worker/tests/helpers/harness';

const bed = useTestBed();
const AUTH = { user: 'ops', pass: 'correct horse battery staple' };
const authorization = `Basic ${Buffer.from(`${AUTH.user}:${AUTH.pass}`).toString('base64')}`;

interface Ui {
  apps: FastifyInstance[];
  client: QueueClient;
  /** Checks each detector has made so far. */
  checks: number[];
  /** Waits until every detector has checked every queue `more` times from now. */
  settle(more: number): Promise<void>;
  metric(name: string, queue: QueueName): Promise<number>;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** Two queues-ui apps with their detectors: EMAIL_LONG_WAIT_SECONDS=2, a check every 200 ms. */
async function startQueuesUi(env: Record<string, string>): Promise<Ui> {
  const config = loadConfig({
    ...env,
    QUEUES_UI_USER: AUTH.user,
    QUEUES_UI_PASS: AUTH.pass,
    EMAIL_LONG_WAIT_SECONDS: '2',
    LONG_WAIT_CHECK_MS: '200',
  });
  expect(config.longWait.thresholds.email).toBe(2);
  const apps: FastifyInstance[] = [];
  const checks = [0, 0];
  let first: QueueClient | undefined;
  for (const index of [0, 1]) {
    const client = new QueueClient({ config: config.queues, connectionName: `ceres-queues-ui-${index}`, allowReservedKeys: true });
    cleanups.push(() => client.close());
    await client.ready();
    first ??= client;
    const app = buildApp({ client, auth: AUTH, longWait: config.longWait });
    cleanups.push(() => app.close());
    app.longWaitDetector!.on('checked', () => void (checks[index]! += 1));
    await app.ready();
    apps.push(app);
  }
  return {
    apps,
    client: first!,
    checks,
    settle: async (more) => {
      const from = [...checks];
      await waitFor(() => checks.every((count, index) => count >= from[index]! + more), { timeoutMs: 20_000, what: `${more} more checks` });
    },
    metric: async (name, queue) => {
      const response = await apps[1]!.inject({ method: 'GET', url: '/metrics', headers: { authorization } });
      expect(response.statusCode).toBe(200);
      const line = new RegExp(`^${name}\\{queue="${queue}"\\} (\\S+)$`, 'm').exec(response.body);
      expect(line, `${name}{queue="${queue}"} in /metrics`).not.toBeNull();
      return Number(line![1]);
    },
  };
}

/** The texts Slack's stand-in received about the email queue, in order. */
const emailAlerts = () =>
  bed.peers.slack.requests.map((request) => (request.body as { text?: string }).text ?? '').filter((text) => text.includes('*email*'));

const waitForAlerts = (count: number, timeoutMs = 30_000) =>
  waitFor(() => (emailAlerts().length >= count ? emailAlerts() : undefined), { timeoutMs, what: `${count} email alert(s) at Slack` });

/** An in-process worker app for some queues only (no crons). */
async function startWorkerApp(env: Record<string, string>, queues: QueueName[]) {
  const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent'), queues, schedulers: false });
  bed.apps.push(app);
  await app.started;
  return app;
}

const welcome = (n: number) => ({ userId: `lw-${n}`, email: `lw-${n}@example.com`, firstName: 'Ana' });

/** The episode's record is gone (its recovery enqueued), the Slack queue has sent everything, and both detectors looked again. */
async function quiet(ui: Ui) {
  const email = ui.client.getQueue('email');
  await waitFor(async () => (await ui.client.store.waitEpisode(email)) === null, { timeoutMs: 20_000, what: 'the episode to end' });
  await waitForIdle(ui.client.getQueue('slack'), { timeoutMs: 20_000 });
  await ui.settle(5);
  await waitForIdle(ui.client.getQueue('slack'), { timeoutMs: 20_000 });
}

describe('long-wait and stalled alerts, once across queues-ui instances, with one recovery', () => {
  it('(a) no worker running at all: queues-ui posts one alert saying waiting long and stalled itself; a worker delivers the mails: one recovery', async () => {
    const env = workerEnv(bed.peers);
    // SLACK_WEBHOOK_URL (the Slack stand-in) is in queues-ui's environment too: with no worker
    // consuming the slack queue, the detector posts to it itself, one instance of the two.
    expect(env.SLACK_WEBHOOK_URL).toBeDefined();
    const ui = await startQueuesUi(env);
    const producer = bed.producer(env);
    for (const n of [1, 2, 3]) await producer.enqueue('email/welcome', welcome(n));

    const [alert] = await waitForAlerts(1);
    expect(alert).toMatch(
      /Queue \*email\* is waiting long and stalled: the oldest due job has waited \d+ s \(threshold 2 s\), 3 jobs due\./,
    );
    expect(alert).toContain('no worker is connected');
    expect(alert).not.toContain('@example.com');
    expect(await ui.metric('ceres_queue_long_wait', 'email')).toBe(1);
    expect(await ui.metric('ceres_queue_stalled', 'email')).toBe(1);
    expect(await ui.metric('ceres_queue_long_wait_threshold_seconds', 'email')).toBe(2);
    expect(await ui.metric('ceres_queue_oldest_waiting_seconds', 'email')).toBeGreaterThanOrEqual(2);
    expect(await ui.metric('ceres_queue_long_wait', 'slack')).toBe(0);

    expect(await ui.client.getQueue('slack').count(), 'posted by queues-ui, not enqueued').toBe(0);

    // The recovery goes through the slack queue, now that a worker consumes it.
    await startWorkerApp(env, ['email', 'slack']);
    await bed.peers.smtp.waitForMessages(3, 30_000);
    const [, recovery] = await waitForAlerts(2);
    expect(recovery).toMatch(/Queue \*email\* recovered: it was waiting long and stalled for \d+ (s|min).*\(longest wait seen \d+ (s|min)/);

    await quiet(ui);
    expect(emailAlerts()).toHaveLength(2);
    expect(await ui.metric('ceres_queue_long_wait', 'email')).toBe(0);
    expect(await ui.metric('ceres_queue_stalled', 'email')).toBe(0);
    expect(await ui.metric('ceres_queue_oldest_waiting_seconds', 'email')).toBe(0);
  }, 90_000);

  it('(b) two worker processes and a relay that stops answering: one alert (waiting long, not stalled); it answers again: one recovery', async () => {
    const gate: TcpProxy = await startTcpProxy(bed.peers.smtp.port);
    cleanups.push(() => gate.close());
    const env = workerEnv(bed.peers, { SMTP_URL: `smtp://127.0.0.1:${gate.port}` });
    const ui = await startQueuesUi(env);
    const workers = [spawnWorker(env), spawnWorker(env)];
    bed.children.push(...workers);
    await Promise.all(workers.map((worker) => worker.ready));
    const producer = bed.producer(env);
    await producer.enqueue('email/welcome', welcome(0));
    await bed.peers.smtp.waitForMessages(1, 30_000);

    gate.hold();
    for (let n = 1; n <= 20; n++) await producer.enqueue('email/welcome', welcome(n));
    const [alert] = await waitForAlerts(1);
    expect(alert).toMatch(/Queue \*email\* is waiting long: the oldest due job has waited \d+ s \(threshold 2 s\), \d+ jobs due\./);
    expect(alert).not.toContain('stalled');
    expect(await ui.metric('ceres_queue_long_wait', 'email')).toBe(1);
    expect(await ui.metric('ceres_queue_stalled', 'email')).toBe(0);

    gate.release();
    await bed.peers.smtp.waitForMessages(21, 60_000);
    const [, recovery] = await waitForAlerts(2, 60_000);
    expect(recovery).toMatch(/Queue \*email\* recovered: it was waiting long for \d+ (s|min)/);
    await quiet(ui);
    expect(emailAlerts()).toHaveLength(2);
  }, 120_000);

  it('(c) a paused queue is reported as paused, not stalled', async () => {
    const env = workerEnv(bed.peers);
    const ui = await startQueuesUi(env);
    await startWorkerApp(env, ['slack']);
    const producer = bed.producer(env);
    await producer.getQueue('email').pause();
    for (const n of [1, 2]) await producer.enqueue('email/welcome', welcome(n));

    const [alert] = await waitForAlerts(1);
    expect(alert).toMatch(/Queue \*email\* is waiting long: .* 2 jobs due\. The queue is paused: nothing runs until it is resumed/);
    expect(alert).not.toContain('stalled');
    expect(await ui.metric('ceres_queue_stalled', 'email')).toBe(0);
    expect(await ui.metric('ceres_queue_long_wait', 'email')).toBe(1);

    await startWorkerApp(env, ['email']);
    await producer.getQueue('email').resume();
    await bed.peers.smtp.waitForMessages(2, 30_000);
    const [, recovery] = await waitForAlerts(2);
    expect(recovery).toMatch(/Queue \*email\* recovered: it was waiting long for/);
  }, 90_000);
});
