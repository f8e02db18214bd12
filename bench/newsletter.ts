// `npm run bench:newsletter`: one newsletter campaign end to end, as deployed (the builds of the API
// and the worker): the time to add its recipients through the API (1,000 per request) and to fan it
// out, Redis's peak memory meanwhile, and delivery to an SMTP sink at NEWSLETTER_RATE_PER_SECOND:
// the achieved rate against the limit and the largest number of mails in any sliding second.
// Sizes: BENCH_NEWSLETTER_RECIPIENTS (default 100000), BENCH_NEWSLETTER_RATE (2000),
// BENCH_NEWSLETTER_WORKERS (worker processes, 3). Prints a table and writes
// bench/results/newsletter-<time>.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { migrate } from '@ceres/db';
import { createQueueClient, loadQueuesConfig } from '@ceres/queues';
import { freePort, startPostgresServer, startRedisServer, startSmtpSink, waitFor } from '@ceres/testing';
import { Redis } from 'ioredis';
import { ROOT } from './lib/child';

const RECIPIENTS = Number(process.env.BENCH_NEWSLETTER_RECIPIENTS ?? 100_000);
const RATE = Number(process.env.BENCH_NEWSLETTER_RATE ?? 2000);
const WORKERS = Number(process.env.BENCH_NEWSLETTER_WORKERS ?? 3);
const PER_CALL = 1000;
const IN_FLIGHT = 4;
const TOKEN = 'newsletter-bench-token-0123456789';
const log = (message: string) => console.log(`[newsletter ${new Date().toISOString().slice(11, 19)}] ${message}`);
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

const started = Date.now();
const [redis, postgres, sink] = await Promise.all([startRedisServer(), startPostgresServer(), startSmtpSink({ keepMessages: false })]);
await migrate(postgres.url);
const admin = new Redis(`${redis.url}/5`);
const memory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
const apiPort = await freePort();
const env: Record<string, string> = {
  REDIS_URL: redis.url,
  REDIS_PREFIX: 'nl:',
  DATABASE_URL: postgres.url,
  SMTP_URL: sink.url,
  UNSUBSCRIBE_SECRET: 'bench-unsubscribe-secret-0123',
  UNSUBSCRIBE_URL: 'https://api.ceres.example/unsubscribe',
  NEWSLETTER_RATE_PER_SECOND: String(RATE),
  API_PORT: String(apiPort),
  API_TOKENS: TOKEN,
  API_RATE_LIMIT_MAX: '1000000000',
  LOG_LEVEL: 'warn',
};

const ecosystem = createRequire(import.meta.url)('../ecosystem.config.js') as {
  apps: Array<{ name: string; script: string; node_args?: string[]; env_production?: Record<string, string> }>;
};
const children: ChildProcess[] = [];
/** An app's build as PM2 runs it; resolves once its log says `readyLine` (or, for the API, it answers /health). */
function deployed(name: string, readyLine?: string): Promise<ChildProcess> {
  const app = ecosystem.apps.find((entry) => entry.name === name)!;
  const child = spawn(process.execPath, [...(app.node_args ?? []), app.script], {
    cwd: ROOT,
    env: { ...process.env, ...app.env_production, ...env, LOG_LEVEL: readyLine ? 'info' : 'warn' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready in 60 s:\n${output.slice(-2000)}`)), 60_000);
    const ready = () => {
      clearTimeout(timer);
      resolve(child);
    };
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (output.length < 100_000) output += text;
      if (readyLine && text.includes(readyLine)) ready();
    });
    child.on('message', (message) => message === 'ready' && !readyLine && ready());
    child.once('exit', (code) => reject(new Error(`${name} exited (code ${code}):\n${output.slice(-2000)}`)));
  });
}

const api = `http://127.0.0.1:${apiPort}`;
async function call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** The largest number of timestamps within any window [t, t + 1000 ms). */
function largestSlidingSecond(sorted: number[]): number {
  let best = 0;
  for (let start = 0, end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= 1000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

try {
  log(`${RECIPIENTS} recipients, NEWSLETTER_RATE_PER_SECOND=${RATE}, ${WORKERS} worker processes`);
  await Promise.all([deployed('ceres-api'), ...Array.from({ length: WORKERS }, () => deployed('ceres-worker', '"worker ready"'))]);
  const baseline = await memory();
  let peak = baseline;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await memory());
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  const { campaignId } = await call('POST', '/campaigns', {
    subject: 'Novedades de Ceres para {{firstName}}',
    text: 'Hola {{firstName}},\n\nEste mes abrimos la inscripción a los talleres del centro vecinal.\n\nDarte de baja: {{unsubscribeUrl}}',
    html: '<p>Hola {{firstName}},</p><p>Este mes abrimos la inscripción a los talleres del centro vecinal.</p><p><a href="{{unsubscribeUrl}}">Darte de baja</a></p>',
  });
  const id = campaignId as string;

  let t = performance.now();
  const calls = Array.from({ length: Math.ceil(RECIPIENTS / PER_CALL) }, (_, c) => c);
  const adding = async () => {
    for (let c = calls.shift(); c !== undefined; c = calls.shift()) {
      const recipients = Array.from({ length: Math.min(PER_CALL, RECIPIENTS - c * PER_CALL) }, (_, i) => {
        const n = c * PER_CALL + i;
        return { userId: `user-${n}`, email: `user-${n}@example.com`, firstName: `Nombre ${n}` };
      });
      await call('POST', `/campaigns/${id}/recipients`, { recipients });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, adding));
  const addSeconds = (performance.now() - t) / 1000;
  log(`added ${RECIPIENTS} recipients in ${round(addSeconds, 2)} s`);

  const queues = createQueueClient({ config: loadQueuesConfig(env) });
  const queue = queues.getQueue('newsletter');
  t = performance.now();
  await call('POST', `/campaigns/${id}/start`);
  await waitFor(async () => (await queue.getJobState(`newsletter:fan-out:${id}`)) === 'completed', {
    timeoutMs: 3_600_000,
    intervalMs: 50,
    what: 'the fan-out',
  });
  const fanOutSeconds = (performance.now() - t) / 1000;
  log(`fanned out in ${round(fanOutSeconds, 2)} s`);

  await waitFor(async () => (await call('GET', `/campaigns/${id}`)).state === 'done', {
    timeoutMs: 3_600_000,
    intervalMs: 500,
    what: 'the campaign to be done',
  });
  const totalSeconds = (performance.now() - t) / 1000;
  sampling = false;
  await sampler;
  const figures = await call('GET', `/campaigns/${id}`);
  await queues.close();

  const times = [...sink.receivedAt].sort((a, b) => a - b);
  const spanS = (times.at(-1)! - times[0]!) / 1000;
  const unique = new Set(sink.recipients.map((to) => to[0])).size;
  const results = {
    recipients: RECIPIENTS,
    workers: WORKERS,
    'limit (mails/s)': RATE,
    'add recipients (s)': round(addSeconds, 2),
    'add recipients (recipients/s)': Math.round(RECIPIENTS / addSeconds),
    'fan-out (s, from start to the last send enqueued)': round(fanOutSeconds, 2),
    'start to done (s)': round(totalSeconds, 2),
    'peak Redis memory above idle (MiB)': round((peak - baseline) / 1_048_576, 1),
    'mails at the sink': times.length,
    'distinct recipients': unique,
    'achieved rate (mails/s, first to last mail + 1 s)': round(times.length / (spanS + 1)),
    'achieved rate vs limit (%)': round((100 * times.length) / (spanS + 1) / RATE),
    'largest sliding second (mails)': largestSlidingSecond(times),
    figures,
  };
  const seconds = Math.round((Date.now() - started) / 1000);
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    node: process.version,
    redis: /redis_version:(\S+)/.exec(await admin.info('server'))?.[1],
  };
  console.log(`\n${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, Redis ${machine.redis}; ${seconds} s`);
  console.table(
    Object.entries(results)
      .filter(([name]) => name !== 'figures')
      .map(([measure, value]) => ({ measure, value })),
  );
  const file = `bench/results/newsletter-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`;
  await writeFile(`${ROOT}${file}`, JSON.stringify({ startedAt: new Date(started).toISOString(), seconds, machine, results }, null, 2));
  console.log(`results: ${file}`);
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  admin.disconnect();
  await Promise.allSettled([sink.close(), redis.close(), postgres.close()]);
}
process.exit(0);
