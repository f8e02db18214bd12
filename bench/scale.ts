// `npm run bench:scale`: how costs grow with volume — enqueue rate and Redis memory per waiting
// job, the ops surface's and the API's latency with a backlog in place, drain rate with 1, 2 and 4
// worker processes, what 100k failed jobs cost (reconciliation, retry all, clean, and the Redis
// stall each causes), and the daily report over a day of 100k jobs. Sizes are bounded by env:
// BENCH_SCALE_SIZES (backlog steps, default 10000,100000,1000000), BENCH_SCALE_DRAIN (100000),
// BENCH_SCALE_FAILED (100000). Prints a table and writes bench/results/scale-<time>.json.
// `npm run bench:scale -- --cluster`: the Redis Cluster mode instead (bench/scale-cluster.ts).
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { createDb, migrate } from '@ceres/db';
import { createQueueClient, loadQueuesConfig, type QueueClient } from '@ceres/queues';
import { freePort, startPostgresServer, startRedisServer, testEncryptionKey, waitFor } from '@ceres/testing';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { QueueAdmin } from '../apps/queues-ui/src/admin/queue-admin';
import { createDeadLetters } from '../apps/worker/src/dead-letters';
import { buildDailyReport } from '../apps/worker/src/processors/maintenance/daily-report';
import { ROOT, spawnDeployed, spawnTs, type Child } from './lib/child';
import { verifyPayload } from './lib/payload';

// The cluster mode runs on its own and ends the process.
if (process.argv.includes('--cluster')) await import('./scale-cluster');

const SIZES = (process.env.BENCH_SCALE_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const DRAIN = Number(process.env.BENCH_SCALE_DRAIN ?? 100_000);
const FAILED = Number(process.env.BENCH_SCALE_FAILED ?? 100_000);
const TOKEN = 'scale-token-0123456789abcdef';
const UI_PASS = 'scale-ui-password-0123456789';
const log = (message: string) => console.log(`[scale ${new Date().toISOString().slice(11, 19)}] ${message}`);
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const results: Array<Record<string, unknown>> = [];
const record = (row: Record<string, unknown>) => {
  results.push(row);
  log(JSON.stringify(row));
};
/** Empties failed_jobs through a connection of its own (the Db interface has no such operation). */
async function truncateFailedJobs() {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  await client.query('TRUNCATE failed_jobs');
  await client.end();
}
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

const started = Date.now();
const redis = await startRedisServer();
const postgres = await startPostgresServer();
await migrate(postgres.url);
const admin = new Redis(`${redis.url}/5`);
const memory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
// The API and the worker need a keyring (the mails' personal fields are encrypted), as deployed.
const ENCRYPTION_KEYS = testEncryptionKey('scale1');
const env = (prefix: string) => ({
  REDIS_URL: redis.url,
  REDIS_PREFIX: prefix,
  DATABASE_URL: postgres.url,
  UNSUBSCRIBE_SECRET: 'bench-unsubscribe-secret-0123',
  LOG_LEVEL: 'warn',
  JOBS_ENCRYPTION_KEYS: ENCRYPTION_KEYS,
});

/** Latency of `request` over `count` sequential calls, in ms. */
async function latency(count: number, request: () => Promise<unknown>) {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await request();
    times.push(performance.now() - t);
  }
  return { p50: round(percentile(times, 50), 2), p99: round(percentile(times, 99), 2) };
}

async function ok(response: Promise<Response>): Promise<Response> {
  const answer = await response;
  if (!answer.ok) throw new Error(`${answer.url}: ${answer.status} ${await answer.text()}`);
  await answer.arrayBuffer();
  return answer;
}

// ── backlog: the batch endpoint, then latencies with the backlog in place ─────────────────────
{
  const prefix = 'scale:';
  const [apiPort, uiPort] = [await freePort(), await freePort()];
  const api = spawnDeployed('ceres-api', {
    ...env(prefix),
    API_PORT: String(apiPort),
    API_TOKENS: TOKEN,
    API_RATE_LIMIT_MAX: '1000000000',
  });
  const ui = spawnDeployed('ceres-queues-ui', { ...env(prefix), QUEUES_UI_PORT: String(uiPort), QUEUES_UI_PASS: UI_PASS });
  await Promise.all([
    api.next('ready'),
    waitFor(
      () =>
        fetch(`http://127.0.0.1:${uiPort}/health`).then(
          (r) => r.ok,
          () => false,
        ),
      { timeoutMs: 30_000 },
    ),
  ]);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  const apiAuth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const uiAuth = { authorization: `Basic ${Buffer.from(`admin:${UI_PASS}`).toString('base64')}` };
  let enqueued = 0;
  for (const size of SIZES) {
    const before = await memory();
    const t = performance.now();
    const batches = Math.ceil((size - enqueued) / 1000);
    let next = 0;
    const sender = async () => {
      for (let batch = next++; batch < batches; batch = next++) {
        const items = Array.from({ length: 1000 }, (_, i) => verifyPayload(`s${enqueued + batch * 1000 + i}`));
        await ok(fetch(`${apiUrl}/jobs/email/verify/batch`, { method: 'POST', headers: apiAuth, body: JSON.stringify({ items }) }));
      }
    };
    await Promise.all(Array.from({ length: 4 }, sender));
    const seconds = (performance.now() - t) / 1000;
    const added = batches * 1000;
    enqueued += added;
    record({
      measure: 'enqueue (batch endpoint, 1000/request, 4 in flight)',
      backlog: enqueued,
      'jobs/s': Math.round(added / seconds),
      'bytes per waiting job': Math.round(((await memory()) - before) / added),
    });
    const single = { method: 'POST', headers: apiAuth };
    let n = 0;
    record({
      measure: 'latency with the backlog in place (ms, p50 / p99 over 100 calls)',
      backlog: enqueued,
      '/health': await latency(100, () => ok(fetch(`${apiUrl}/health`))),
      'single enqueue': await latency(100, () =>
        ok(fetch(`${apiUrl}/jobs/email/verify`, { ...single, body: JSON.stringify(verifyPayload(`one-${enqueued}-${n++}`)) })),
      ),
      '/metrics': await latency(100, () => ok(fetch(`${uiUrl}/metrics`, { headers: uiAuth }))),
      'admin stats': await latency(100, () => ok(fetch(`${uiUrl}/api/queues/stats`, { headers: uiAuth }))),
      'Bull Board queue list': await latency(20, () =>
        ok(fetch(`${uiUrl}/ui/api/queues?activeQueue=email&status=waiting&page=1&jobsPerPage=10`, { headers: uiAuth })),
      ),
    });
  }
  await Promise.all([api.kill('SIGTERM'), ui.kill('SIGTERM')]);
  await admin.flushdb();
}

// ── drain with 1, 2 and 4 worker processes ─────────────────────────────────────────────────────
let reportClient: QueueClient | undefined;
for (const processes of [1, 2, 4]) {
  const prefix = `drain${processes}:`;
  const client = createQueueClient({ config: loadQueuesConfig(env(prefix)) });
  const queue = client.getQueue('email');
  await queue.pause();
  for (let i = 0; i < DRAIN; i += 1000) {
    await client.enqueueBulk(
      'email/verify',
      Array.from({ length: Math.min(1000, DRAIN - i) }, (_, j) => verifyPayload(`d${i + j}`)),
    );
  }
  const workers: Child[] = Array.from({ length: processes }, () =>
    spawnTs('bench/children/worker.ts', { ...env(prefix), BENCH_SIDE: 'ours', BENCH_TASK: 'throughput', BENCH_COUNT: String(DRAIN * 10) }),
  );
  await Promise.all(workers.map((worker) => worker.next('ready')));
  const t = performance.now();
  await queue.resume();
  await waitFor(async () => (await queue.getJobCountByTypes('completed')) >= DRAIN, {
    timeoutMs: 600_000,
    intervalMs: 100,
    what: 'the drain',
  });
  const seconds = (performance.now() - t) / 1000;
  record({
    measure: 'drain (no-op processors through the runner, concurrency 50 each)',
    jobs: DRAIN,
    processes,
    'jobs/s': Math.round(DRAIN / seconds),
    'jobs/s per process': Math.round(DRAIN / seconds / processes),
  });
  await Promise.all(workers.map((worker) => worker.kill('SIGTERM')));
  if (processes === 1) reportClient = client;
  else await client.close();
}

// ── the daily report over a day that saw the drain's jobs ──────────────────────────────────────
{
  const db = createDb(postgres.url);
  const t = performance.now();
  const report = await buildDailyReport({
    db,
    queues: reportClient!,
    mailer: undefined as never,
    clock: { now: () => new Date() },
    config: { timeZone: 'UTC', reportEmailTo: undefined },
  });
  record({
    measure: 'daily report (build)',
    'completed in the day': report.queues.find((q) => q.queue === 'email')?.completed,
    ms: Math.round(performance.now() - t),
  });
  await reportClient!.close();
  await db.close();
}

// ── 100k failed jobs: reconciliation, retry all and clean, and the stall each causes ──────────
{
  const prefix = 'failed:';
  const client = createQueueClient({ config: loadQueuesConfig(env(prefix)) });
  const slack = client.getQueue('slack');
  for (let i = 0; i < FAILED; i += 1000) {
    await slack.addBulk(
      Array.from({ length: Math.min(1000, FAILED - i) }, (_, j) => ({ name: 'alert', data: { text: `f${i + j}` }, opts: { attempts: 1 } })),
    );
  }
  const failer = new Worker(
    'slack',
    async () => {
      throw new UnrecoverableError('for the bench');
    },
    {
      connection: { host: '127.0.0.1', port: redis.port, db: 5, maxRetriesPerRequest: null },
      prefix: client.config.bullPrefix,
      concurrency: 200,
    },
  );
  await waitFor(async () => (await slack.getJobCountByTypes('failed')) >= FAILED, {
    timeoutMs: 600_000,
    intervalMs: 200,
    what: 'the failures',
  });
  await failer.close();

  /** Runs `operation` while single enqueues go on beside it; the enqueues' p99 is the stall it causes. */
  const withProbe = async (operation: () => Promise<unknown>) => {
    const probe = createQueueClient({ config: loadQueuesConfig(env('probe:')) });
    await probe.ready();
    const times: number[] = [];
    let stop = false;
    const probing = (async () => {
      while (!stop) {
        const t = performance.now();
        await probe.enqueue('slack/alert', { text: 'probe' });
        times.push(performance.now() - t);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const t = performance.now();
    await operation();
    const ms = Math.round(performance.now() - t);
    stop = true;
    await probing;
    await probe.close();
    return {
      ms,
      'enqueue p99 meanwhile (ms)': round(percentile(times, 99), 2),
      'enqueue max meanwhile (ms)': round(Math.max(...times), 2),
    };
  };
  const db = createDb(postgres.url);
  // The deployed worker with the failures in place: ready does not wait for the reconciliation,
  // which runs in the background; it is stopped at once and its rows removed for the next measure.
  // Ready is when it takes jobs: a job waiting before the start completes.
  const { jobId } = await client.enqueue('slack/alert', { text: 'first after start' });
  const startedAt = performance.now();
  const worker = spawnDeployed('ceres-worker', {
    ...env(prefix),
    OUTBOX_DIR: `${os.tmpdir()}/scale-outbox`,
    DEAD_LETTER_RECONCILE_INTERVAL_MS: '3600000',
  });
  await waitFor(async () => (await slack.getJobState(jobId)) === 'completed', {
    timeoutMs: 120_000,
    intervalMs: 20,
    what: 'the worker to take a job',
  });
  record({
    measure: 'worker start to taking jobs (deployed build, failed jobs in place)',
    jobs: FAILED,
    ms: Math.round(performance.now() - startedAt),
  });
  await worker.kill();
  await truncateFailedJobs();
  const deadLetters = createDeadLetters({ db, queues: client, logger: pino({ level: 'silent' }) });
  record({
    measure: 'reconciliation of failed jobs (worker start)',
    jobs: FAILED,
    ...(await withProbe(() => deadLetters.reconcile(['slack']))),
  });
  const queueAdmin = new QueueAdmin(client);
  record({
    measure: 'retry all failed (the admin API: job.retry with attempts reset, by pages)',
    jobs: FAILED,
    ...(await withProbe(() => queueAdmin.retryFailed('slack'))),
  });
  // The retried jobs wait (no worker): fail them again for the clean.
  const failer2 = new Worker(
    'slack',
    async () => {
      throw new UnrecoverableError('again');
    },
    {
      connection: { host: '127.0.0.1', port: redis.port, db: 5, maxRetriesPerRequest: null },
      prefix: client.config.bullPrefix,
      concurrency: 200,
    },
  );
  await waitFor(async () => (await slack.getJobCountByTypes('failed')) >= FAILED, {
    timeoutMs: 600_000,
    intervalMs: 200,
    what: 'the failures again',
  });
  await failer2.close();
  record({
    measure: 'clean failed (the admin API, grace 0)',
    jobs: FAILED,
    ...(await withProbe(() => queueAdmin.clean('slack', 'failed', 0))),
  });
  await db.close();
  await client.close();
}

const seconds = Math.round((Date.now() - started) / 1000);
const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  node: process.version,
  redis: /redis_version:(\S+)/.exec(await admin.info('server'))?.[1],
};
console.log(`\n${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, Redis ${machine.redis}; ${seconds} s`);
console.table(results);
const file = `bench/results/scale-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`;
await writeFile(
  `${ROOT}${file}`,
  JSON.stringify(
    { startedAt: new Date(started).toISOString(), seconds, machine, sizes: SIZES, drain: DRAIN, failed: FAILED, results },
    null,
    2,
  ),
);
console.log(`results: ${file}`);
admin.disconnect();
await redis.close();
await postgres.close();
process.exit(0);
