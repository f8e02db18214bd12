// Traces across the hop: the real API and worker processes (src/main.ts under tsx, as PM2 runs
// the builds), real Redis, PostgreSQL, an SMTP sink, a Slack stand-in and a real OTLP/HTTP
// receiver that decodes what the exporters send.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startOtlpReceiver, waitFor, type OtlpReceiver, type ReceivedSpan } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  producerFor,
  ROOT,
  spawnWorker,
  startPeers,
  stopWorker,
  workerEnv,
  type Peers,
  type WorkerProcess,
} from '../apps/worker/tests/helpers/harness';

const TOKEN = 'tracing-test-token-0123456789';
const RECORDER = join(ROOT, 'tests/support/record-modules.mjs');
// What must never show in a span: the recipient, the name, the alert text, the webhook's path.
const ADDRESS = 'lucia.traza@example.com';
const FIRST_NAME = 'Luciatrazaname';
const ALERT_TEXT = 'Disco casi lleno en web-7 (traza)';

const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

let peers: Peers;
let dir: string;
const children: ChildProcess[] = [];
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  peers = await startPeers();
  dir = mkdtempSync(join(tmpdir(), 'ceres-tracing-'));
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.allSettled(workers.map(stopWorker));
  await peers?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The API's src/main.ts in its own process, as PM2 runs it; resolves once it said "ready". */
async function startApiProcess(env: Record<string, string>): Promise<{ port: number; child: ChildProcess; output: string[] }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/api/src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, API_TOKENS: TOKEN, API_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.push(child);
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the API sent no "ready":\n${output.join('')}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`the API exited (${code}):\n${output.join('')}`)));
    child.once('message', (message) => {
      clearTimeout(timer);
      if (message === 'ready') resolve();
    });
  });
  return { port, child, output };
}

async function post(port: number, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  expect(response.status, JSON.stringify(answer)).toBe(202);
  return answer;
}

/** Both processes' environment: the worker's (harness) plus what the API needs, and a module log each. */
function stackEnv(extra: Record<string, string>) {
  const env = workerEnv(peers, { LOG_LEVEL: 'info', ...extra });
  const api = { ...env, NODE_OPTIONS: `--import ${RECORDER}`, CERES_MODULE_LOG: join(dir, `api-${env.REDIS_PREFIX}log`) };
  const worker = { ...env, NODE_OPTIONS: `--import ${RECORDER}`, CERES_MODULE_LOG: join(dir, `worker-${env.REDIS_PREFIX}log`) };
  return { env, api, worker };
}

const modulesOf = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const otelModules = (file: string) => modulesOf(file).filter((url) => url.includes('/@opentelemetry/'));

async function stopApi(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe('traces across the hop (OTEL_EXPORTER_OTLP_ENDPOINT set)', () => {
  let receiver: OtlpReceiver;
  let env: Record<string, string>;
  let apiEnv: ReturnType<typeof stackEnv>['api'];
  let workerEnvWithLog: ReturnType<typeof stackEnv>['worker'];
  let port: number;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    // A short export delay (the SDK reads it) so the test does not wait the default 5 s per batch.
    ({
      env,
      api: apiEnv,
      worker: workerEnvWithLog,
    } = stackEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' }));
    const worker = spawnWorker(workerEnvWithLog);
    workers.push(worker);
    [{ port }] = await Promise.all([startApiProcess(apiEnv), worker.ready]);
  }, 90_000);
  afterAll(async () => receiver?.close());

  it('API request → enqueue → process → SMTP send / Slack post are one trace each, linked parent to child, with no personal data', async () => {
    const mail = await post(port, '/jobs/email/welcome', { userId: 'trace-user', email: ADDRESS, firstName: FIRST_NAME });
    const alert = await post(port, '/jobs/slack/alert', { text: ALERT_TEXT, severity: 'warning', dedupeKey: 'trace-alert' });
    await peers.smtp.waitForMessages(1, 30_000);
    await peers.slack.waitForRequests(1, 30_000);

    const spans = await receiver.waitForSpans(
      (all) =>
        all.some((span) => span.name === 'smtp send') &&
        all.some((span) => span.name === 'slack post') &&
        all.filter((span) => span.kind === SERVER).length >= 2,
      { what: 'the spans of both jobs' },
    );
    const byName = (name: string) => spans.filter((span) => span.name === name);
    const one = (list: ReceivedSpan[], what: string) => {
      expect(list, what).toHaveLength(1);
      return list[0]!;
    };

    // The mail: four spans, one trace, each the child of the one before.
    const requests = spans.filter((span) => span.kind === SERVER);
    expect(requests.map((span) => span.name).sort()).toEqual(['POST /jobs/email/welcome', 'POST /jobs/slack/alert']);
    const enqueueMail = one(byName('enqueue email'), 'enqueue email');
    const processMail = one(byName('process email'), 'process email');
    const smtpSend = one(byName('smtp send'), 'smtp send');
    const mailRequest = one(
      requests.filter((span) => span.spanId === enqueueMail.parentSpanId),
      'the request span of the mail',
    );
    expect(mailRequest.parentSpanId).toBe('');
    for (const span of [enqueueMail, processMail, smtpSend]) expect(span.traceId).toBe(mailRequest.traceId);
    expect(enqueueMail.parentSpanId).toBe(mailRequest.spanId);
    expect(processMail.parentSpanId).toBe(enqueueMail.spanId);
    expect(smtpSend.parentSpanId).toBe(processMail.spanId);

    // The alert: the same chain, another trace.
    const enqueueAlert = one(byName('enqueue slack'), 'enqueue slack');
    const processAlert = one(byName('process slack'), 'process slack');
    const slackPost = one(byName('slack post'), 'slack post');
    const alertRequest = one(
      requests.filter((span) => span.spanId === enqueueAlert.parentSpanId),
      'the request span of the alert',
    );
    expect(alertRequest.traceId).not.toBe(mailRequest.traceId);
    for (const span of [enqueueAlert, processAlert, slackPost]) expect(span.traceId).toBe(alertRequest.traceId);
    expect(processAlert.parentSpanId).toBe(enqueueAlert.spanId);
    expect(slackPost.parentSpanId).toBe(processAlert.spanId);

    // Services, kinds and attributes as docs/operations.md lists them.
    expect(mailRequest).toMatchObject({
      service: 'ceres-api',
      kind: SERVER,
      name: 'POST /jobs/email/welcome',
      attributes: { 'http.request.method': 'POST', 'http.route': '/jobs/email/welcome', 'http.response.status_code': 202 },
    });
    expect(enqueueMail).toMatchObject({
      service: 'ceres-api',
      kind: PRODUCER,
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'send',
        'messaging.destination.name': 'email',
        'ceres.job.name': 'welcome',
        'ceres.tenant': 'default',
        'ceres.enqueue.duplicate': false,
      },
    });
    expect(processMail).toMatchObject({
      service: 'ceres-worker',
      kind: CONSUMER,
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': 'email',
        'ceres.job.name': 'welcome',
        'ceres.job.attempt': 1,
        'ceres.job.outcome': 'completed',
      },
    });
    expect(smtpSend).toMatchObject({
      service: 'ceres-worker',
      kind: CLIENT,
      attributes: { 'server.address': '127.0.0.1', 'server.port': peers.smtp.port },
      status: { code: 0 },
    });
    expect(slackPost).toMatchObject({
      service: 'ceres-worker',
      kind: CLIENT,
      attributes: { 'server.address': '127.0.0.1', 'server.port': peers.slack.port, 'ceres.slack.delivery': 'webhook' },
    });
    expect(processAlert.attributes).toMatchObject({
      'messaging.destination.name': 'slack',
      'ceres.job.name': 'alert',
      'ceres.job.outcome': 'completed',
    });

    // The job carries the enqueue span's context where BullMQ's telemetry reads it (opts.telemetry.metadata, `tm`).
    const producer = producerFor(env);
    try {
      const job = await producer.getQueue('email').getJob(String(mail.jobId));
      const carrier = JSON.parse(String(job?.opts.telemetry?.metadata)) as { traceparent: string };
      expect(carrier.traceparent).toBe(`00-${enqueueMail.traceId}-${enqueueMail.spanId}-01`);
    } finally {
      await producer.close();
    }

    // No personal data anywhere in what was exported: not in attributes, names, or the resource.
    const exported = receiver.bodies.join('\n');
    for (const secret of [ADDRESS, 'lucia.traza', FIRST_NAME, ALERT_TEXT, '/hook', String(mail.jobId), String(alert.jobId), TOKEN]) {
      expect(exported, secret).not.toContain(secret);
    }
    expect(receiver.requests.every((request) => request.path === '/v1/traces')).toBe(true);

    // The control of the last test: with tracing on, these processes loaded the SDK.
    expect(otelModules(apiEnv.CERES_MODULE_LOG).some((url) => url.includes('/@opentelemetry/sdk-trace-node/'))).toBe(true);
    expect(otelModules(workerEnvWithLog.CERES_MODULE_LOG).some((url) => url.includes('/@opentelemetry/exporter-trace-otlp-http/'))).toBe(
      true,
    );
  }, 120_000);

  it('a mail the relay refuses: the attempt and the send are failed spans naming the error class and the code, not the address', async () => {
    const refused = 'rechazo.traza@example.com';
    peers.smtp.setRules([{ match: /^rechazo\.traza@/, code: 550 }]);
    const { jobId } = await post(port, '/jobs/email/welcome', { userId: 'refused-user', email: refused, firstName: 'Rechazonombre' });
    const spans = await receiver.waitForSpans(
      (all) => all.some((span) => span.name === 'process email' && span.attributes['ceres.job.outcome'] === 'failed'),
      { what: 'the failed attempt' },
    );
    const attempt = spans.find((span) => span.name === 'process email' && span.attributes['ceres.job.outcome'] === 'failed')!;
    const send = spans.find((span) => span.name === 'smtp send' && span.parentSpanId === attempt.spanId);
    expect(attempt.status).toEqual({ code: 2, message: 'UnrecoverableError' });
    expect(attempt.attributes['error.type']).toBe('UnrecoverableError');
    expect(send).toMatchObject({ status: { code: 2 }, attributes: { 'smtp.response.code': 550, 'error.type': 'UnrecoverableError' } });
    const enqueue = spans.find((span) => span.spanId === attempt.parentSpanId);
    expect(enqueue?.name).toBe('enqueue email');
    const exported = receiver.bodies.join('\n');
    for (const secret of [refused, 'rechazo.traza', 'Rechazonombre', String(jobId)]) expect(exported, secret).not.toContain(secret);
  }, 60_000);

  it('a batch is one enqueue span, and each of its jobs is processed as its child', async () => {
    const items = [1, 2].map((n) => ({ userId: `batch-user-${n}`, email: `lote.${n}@example.com`, firstName: `Lotenombre${n}` }));
    await post(port, '/jobs/email/welcome/batch', { items });
    const spans = await receiver.waitForSpans(
      (all) => {
        const batch = all.find((span) => span.name === 'enqueue email' && span.attributes['messaging.batch.message_count'] === 2);
        return (
          batch !== undefined && all.filter((span) => span.name === 'process email' && span.parentSpanId === batch.spanId).length === 2
        );
      },
      { what: 'the batch and its two attempts' },
    );
    const batch = spans.find((span) => span.name === 'enqueue email' && span.attributes['messaging.batch.message_count'] === 2)!;
    expect(batch.attributes['ceres.enqueue.duplicates']).toBe(0);
    const request = spans.find((span) => span.spanId === batch.parentSpanId);
    expect(request).toMatchObject({ name: 'POST /jobs/email/welcome/batch', traceId: batch.traceId, kind: SERVER });
    const exported = receiver.bodies.join('\n');
    for (const item of items) for (const value of Object.values(item)) expect(exported, value).not.toContain(value);
  }, 60_000);
});

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('the API and the worker load no OpenTelemetry module, and a job is stored without trace context', async () => {
    const { env, api: apiEnv, worker: workerEnvWithLog } = stackEnv({});
    const worker = spawnWorker(workerEnvWithLog);
    workers.push(worker);
    const [{ port, child: api }] = await Promise.all([startApiProcess(apiEnv), worker.ready]);
    const before = peers.smtp.messages.length;
    const { jobId } = await post(port, '/jobs/email/welcome', {
      userId: 'untraced-user',
      email: 'sin.traza@example.com',
      firstName: 'Sintraza',
    });
    await waitFor(() => peers.smtp.messages.length > before, { timeoutMs: 30_000, what: 'the mail' });
    const producer = producerFor(env);
    try {
      const job = await producer.getQueue('email').getJob(String(jobId));
      expect(job?.opts).toBeDefined();
      expect(job?.opts.telemetry).toBeUndefined();
    } finally {
      await producer.close();
    }
    await stopApi(api);
    await stopWorker(worker);
    // The recorder saw the processes' packages (it works), and not one OpenTelemetry module among them.
    for (const file of [apiEnv.CERES_MODULE_LOG, workerEnvWithLog.CERES_MODULE_LOG]) {
      expect(
        modulesOf(file).some((url) => url.includes('/node_modules/bullmq/')),
        file,
      ).toBe(true);
      expect(otelModules(file), file).toEqual([]);
    }
  }, 120_000);
});
