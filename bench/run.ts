// `npm run bench`: each pair side by side in one run against a throwaway Redis — warm-up, then
// alternating A/B rounds, median of the rounds — a table of ratios and bench/results/<ts>.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import { migrate, createDb } from '@ceres/db';
import { apiTokenHash, findJobDefinition, loadQueuesConfig, newApiToken, parseKeyring, TENANT_FIELD } from '@ceres/queues';
import { sealPayload } from '../packages/queues/src/crypto/fields';
import { freePort, startPostgresServer, startRedisServer, startSmtpSink, testEncryptionKey, type PostgresServer } from '@ceres/testing';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { cpuMs, profileRound, ROOT, spawnDeployed, spawnTs, type Child } from './lib/child';
import { emailJobOptions, REDIS_DB, verifyPayload, wallClockMs } from './lib/payload';
import { median, percentile, round } from './lib/stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const HTTP_SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 5);
const WORKER_JOBS = Number(process.env.BENCH_WORKER_JOBS ?? 20_000);
const BATCH_JOBS = 20_000;
const LATENCY_JOBS = 3_000;
const MAILS = 2_000;
const TOKEN = 'bench-token-0123456789abcdef';
/** Ours encrypts the personal fields as deployed: the API on enqueue, the worker before each job. */
const ENCRYPTION_KEYS = testEncryptionKey('bench1');
const keyring = parseKeyring(ENCRYPTION_KEYS);
/** The payload as our producers store it (personal fields encrypted); the raw side stores plaintext. */
const verifyDefinition = findJobDefinition('email', 'verify')!;
const storedVerifyPayload = (userId: string) => sealPayload(keyring, 'email/verify', verifyDefinition, verifyPayload(userId), true).data;
/**
 * `BENCH_TENANTS=200`: ours with tenants in use (issue 26). Pairs 1 and 2 authenticate with the
 * tokens of that many tenants (api_tokens in a PostgreSQL the bench starts), one after the other;
 * the jobs of pairs 3 and 4 belong to those tenants in turn, at the fair positions the writer gives
 * them (`$tenant` in the data, the position as BullMQ priority), and the worker reads the tenants
 * from that PostgreSQL. The raw sides are unchanged (BullMQ has no tenants).
 */
const TENANTS = Number(process.env.BENCH_TENANTS ?? 0);
const tenantOf = (i: number) => `town-${i % TENANTS}`;
/** Job `i` of a round as ours stores it: sealed, and with tenants, its tenant's and its fair position. */
const oursJob = (userId: string, i: number) =>
  TENANTS === 0
    ? { data: storedVerifyPayload(userId), opts: emailJobOptions }
    : {
        data: { ...(storedVerifyPayload(userId) as object), [TENANT_FIELD]: tenantOf(i) },
        opts: { ...emailJobOptions, priority: 2 + 2 * Math.floor(i / TENANTS) },
      };
/** `BENCH_ONLY=3,4`: run some pairs only (when looking into one); the default runs them all. */
const ONLY = process.env.BENCH_ONLY?.split(',');
const only = (...ids: string[]) => !ONLY || ids.some((id) => ONLY.includes(id));

type Side = 'ours' | 'raw';
interface Pair {
  id: string;
  name: string;
  metric: string;
  /** `higher`: ours/raw should be ≥ target; `lower`: ours/raw should be ≤ target. */
  better: 'higher' | 'lower';
  target?: number;
  ours: number[];
  raw: number[];
  notes?: string[];
  labels?: [string, string];
}

const pairs: Pair[] = [];
const log = (message: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const redis = await startRedisServer();
// The worker writes the job ledger into it (issue 29); with tenants, the API and worker read them there.
const postgres: PostgresServer = await startPostgresServer();
await migrate(postgres.url);
const tenantTokens: string[] = [];
if (TENANTS > 0) {
  const db = createDb(postgres.url);
  for (let i = 0; i < TENANTS; i++) {
    const token = newApiToken();
    await db.tenants.add(tenantOf(i), { name: `Town ${i}` });
    await db.apiTokens.insert({
      id: `tok-${i}`,
      tenantId: tenantOf(i),
      name: null,
      keyVersion: keyring.current.version,
      tokenHash: apiTokenHash(keyring.current, token),
    });
    tenantTokens.push(token);
  }
  await db.close();
}
/** The bearer token of request `n`: with tenants, each tenant's in turn. */
const tokenFor = (n: number) => (TENANTS === 0 ? TOKEN : tenantTokens[n % TENANTS]!);
const databaseUrl = postgres.url;
const admin = new Redis(redis.url, { db: REDIS_DB });
const flush = () => admin.flushdb();
const redisUrl = new URL(redis.url);
const connection = { host: redisUrl.hostname, port: Number(redisUrl.port), db: REDIS_DB };
const ourPrefix = 'bench:';
const ourBullPrefix = loadQueuesConfig({ REDIS_URL: redis.url, REDIS_PREFIX: ourPrefix }).bullPrefix;
const rawPrefix = 'raw';
const started = Date.now();

/** Runs `fn` for each side, warm-up first, then ROUNDS alternating rounds (starting side alternates too). */
async function alternate(pair: Pair, fn: (side: Side, warmup: boolean) => Promise<number>): Promise<void> {
  if (!only(pair.id)) return;
  for (const side of ['ours', 'raw'] as const) await fn(side, true);
  for (let r = 0; r < ROUNDS; r++) {
    const order: Side[] = r % 2 === 0 ? ['ours', 'raw'] : ['raw', 'ours'];
    for (const side of order) {
      const value = await fn(side, false);
      pair[side].push(value);
      log(`${pair.id} round ${r + 1} ${side}: ${round(value)} ${pair.metric}`);
    }
  }
  pairs.push(pair);
}

// ── pairs 1 and 2: the HTTP API vs a minimal Fastify server ───────────────────────────────────
async function startServers(): Promise<Record<Side, { child: Child; url: string }>> {
  const [oursPort, rawPort] = [await freePort(), await freePort()];
  // Ours as deployed: the build, with the ecosystem's node args and production env.
  const ours = spawnDeployed('ceres-api', {
    REDIS_URL: redis.url,
    REDIS_PREFIX: ourPrefix,
    API_PORT: String(oursPort),
    API_TOKENS: TOKEN,
    JOBS_ENCRYPTION_KEYS: ENCRYPTION_KEYS,
    // Without tenants nothing connects to it (the campaign routes are not measured); with tenants, the API reads their tokens.
    DATABASE_URL: databaseUrl,
    UNSUBSCRIBE_SECRET: 'bench-unsubscribe-secret-0123',
    // The default (6000/min per token) would answer 429 within a second; the limiter still runs.
    API_RATE_LIMIT_MAX: '1000000000',
  });
  const raw = spawnTs('bench/children/raw-server.ts', { REDIS_URL: redis.url, REDIS_PREFIX: rawPrefix, API_PORT: String(rawPort) });
  await Promise.all([ours.next('ready'), raw.next('ready')]);
  return { ours: { child: ours, url: `http://127.0.0.1:${oursPort}` }, raw: { child: raw, url: `http://127.0.0.1:${rawPort}` } };
}

const servers = only('1', '2') ? await startServers() : undefined!;
const p99: Record<Side, number[]> = { ours: [], raw: [] };
const redisPid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1]);
/** CPU µs per request (or job) of each process taking part: where a pair's time goes. */
const cpuPerUnit: Record<string, Record<Side, Record<string, number[]>>> = {};
let profiled = 0;
/** Runs one measured round, recording each process's CPU time per unit (and, with BENCH_PROFILE, a CPU profile of `server`). */
async function measureCpu<T>(
  pairId: string,
  side: Side,
  server: Child | undefined,
  fn: () => Promise<T>,
  units: (result: T) => number,
): Promise<T> {
  const serverPid = server?.process.pid;
  const pids: Record<string, number> = { redis: redisPid, ...(serverPid ? { server: serverPid } : {}) };
  const before = Object.fromEntries(await Promise.all(Object.entries(pids).map(async ([name, pid]) => [name, await cpuMs(pid)] as const)));
  const self = process.cpuUsage();
  const result = server ? await profileRound(server, `pair${pairId}-${side}-${++profiled}`, fn) : await fn();
  const selfUsage = process.cpuUsage(self);
  const n = units(result);
  const perUnit: Record<string, number> = { 'bench process': (selfUsage.user + selfUsage.system) / n };
  for (const [name, pid] of Object.entries(pids)) perUnit[name] = (((await cpuMs(pid)) - before[name]!) * 1000) / n;
  const bySide = (cpuPerUnit[pairId] ??= { ours: {}, raw: {} })[side];
  for (const [name, value] of Object.entries(perUnit)) (bySide[name] ??= []).push(value);
  return result;
}
let httpRequests = 0;
const httpPair: Pair = {
  id: '1',
  name: 'HTTP enqueue, autocannon -c 50',
  metric: 'req/s',
  better: 'higher',
  target: 1.0,
  ours: [],
  raw: [],
};
await alternate(httpPair, async (side, warmup) => {
  await flush();
  const run = () =>
    autocannon({
      url: `${servers[side].url}/jobs/email/verify`,
      method: 'POST',
      connections: 50,
      duration: warmup ? 3 : HTTP_SECONDS,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      // A fresh user id per request: every request creates a job on both sides (no duplicates).
      requests: [
        {
          setupRequest: (request) => {
            const n = httpRequests++;
            const headers =
              TENANTS > 0 && side === 'ours'
                ? { ...(request.headers as Record<string, string>), authorization: `Bearer ${tokenFor(n)}` }
                : request.headers;
            return { ...request, headers, body: JSON.stringify(verifyPayload(`h${n}`)) };
          },
        },
      ],
    });
  const result = warmup ? await run() : await measureCpu('1', side, servers[side].child, run, (r) => r['2xx']);
  if (result['2xx'] === 0 || result.non2xx > 0 || result.errors > 0)
    throw new Error(`${side}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  if (!warmup) p99[side].push(result.latency.p99);
  return result['2xx'] / result.duration;
});
const p99Pair: Pair = { id: '1b', name: 'HTTP enqueue p99 latency', metric: 'ms', better: 'lower', ours: p99.ours, raw: p99.raw };
pairs.push(p99Pair);

const rawQueue = new Queue('email', { connection, prefix: rawPrefix });
const batchPair: Pair = {
  id: '2',
  name: 'batch endpoint (1000/request, 4 requests in flight) vs raw queue.add (50 in flight)',
  metric: 'jobs/s',
  better: 'higher',
  target: 0.9,
  ours: [],
  raw: [],
};
let batchRound = 0;
await alternate(batchPair, async (side, warmup) => {
  await flush();
  const total = warmup ? 5_000 : BATCH_JOBS;
  const tag = `b${batchRound++}`;
  const t0 = performance.now();
  await measureCpu(
    '2',
    side,
    side === 'ours' ? servers.ours.child : undefined,
    () => enqueueBatchRound(side, total, tag),
    () => total,
  );
  const seconds = (performance.now() - t0) / 1000;
  const base = `${side === 'ours' ? ourBullPrefix : rawPrefix}:email`;
  const counted = (await admin.llen(`${base}:wait`)) + (await admin.zcard(`${base}:prioritized`));
  if (counted !== total) throw new Error(`${side}: ${counted} jobs waiting, expected ${total}`);
  return total / seconds;
});
async function enqueueBatchRound(side: Side, total: number, tag: string): Promise<void> {
  if (side === 'ours') {
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < total / 1000) {
          const chunk = next++;
          const items = Array.from({ length: 1000 }, (_, i) => verifyPayload(`${tag}-${chunk * 1000 + i}`));
          const response = await fetch(`${servers.ours.url}/jobs/email/verify/batch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${tokenFor(chunk)}` },
            body: JSON.stringify({ items }),
          });
          if (response.status !== 202) throw new Error(`batch answered ${response.status}: ${await response.text()}`);
          await response.arrayBuffer();
        }
      }),
    );
  } else {
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < total) {
          const i = next++;
          await rawQueue.add('verify', verifyPayload(`${tag}-${i}`));
        }
      }),
    );
  }
}
if (servers) await Promise.all([servers.ours.child.kill('SIGTERM'), servers.raw.child.kill('SIGTERM')]);

// ── pairs 3, 4 and 6: the worker stack vs a raw BullMQ Worker ─────────────────────────────────
const prefixOf = (side: Side) => (side === 'ours' ? ourBullPrefix : rawPrefix);
const producers: Record<Side, Queue> = {
  ours: new Queue('email', { connection, prefix: ourBullPrefix }),
  raw: new Queue('email', { connection, prefix: rawPrefix }),
};
const workerEnv = (side: Side, task: string, count: number) => ({
  BENCH_SIDE: side,
  BENCH_TASK: task,
  BENCH_COUNT: String(count),
  REDIS_URL: redis.url,
  REDIS_PREFIX: side === 'ours' ? ourPrefix : rawPrefix,
  JOBS_ENCRYPTION_KEYS: ENCRYPTION_KEYS,
  // Ours writes its job ledger there and, with tenants, reads them from it.
  BENCH_DATABASE_URL: databaseUrl,
});
const rss: Record<Side, number[]> = { ours: [], raw: [] };
const idleRss: Record<Side, number[]> = { ours: [], raw: [] };
let jobRound = 0;

const workerPair: Pair = {
  id: '3',
  name: `worker stack, no-op jobs, concurrency 50, ${WORKER_JOBS} jobs/round`,
  metric: 'jobs/s',
  better: 'higher',
  target: 0.9,
  ours: [],
  raw: [],
};
await alternate(workerPair, async (side, warmup) => {
  await flush();
  const count = warmup ? 5_000 : WORKER_JOBS;
  const queue = producers[side];
  const tag = `w${jobRound++}`;
  // Jobs identical on both sides (the registry's email options), waiting behind a paused queue so
  // the measurement starts with all of them there.
  await queue.pause();
  for (let i = 0; i < count; i += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, count - i) }, (_, k) =>
        side === 'ours'
          ? { name: 'verify', ...oursJob(`${tag}-${i + k}`, i + k) }
          : { name: 'verify', data: verifyPayload(`${tag}-${i + k}`), opts: emailJobOptions },
      ),
    );
  }
  const child = spawnTs('bench/children/worker.ts', workerEnv(side, 'throughput', count));
  const ready = await child.next<{ rssMiB: number }>('ready');
  const finished = async () => {
    await queue.resume();
    return child.next<{ ms: number; rssMiB: number }>('done');
  };
  const done = warmup ? await finished() : await measureCpu('3', side, child, finished, () => count);
  if (!warmup) {
    rss[side].push(done.rssMiB);
    idleRss[side].push(ready.rssMiB);
  }
  child.send({ type: 'stop' });
  await Promise.race([new Promise((resolve) => child.process.once('exit', resolve)), sleep(5_000)]);
  await child.kill();
  const completed = await admin.zcard(`${prefixOf(side)}:email:completed`);
  if (completed !== count) throw new Error(`${side}: ${completed} completed, expected ${count}`);
  return (count / done.ms) * 1000;
});
pairs.push({
  id: '6',
  name: 'worker RSS after pair 3 (ours: 4 queues; raw: 1 worker)',
  metric: 'MiB',
  better: 'lower',
  target: 1.15,
  ours: rss.ours,
  raw: rss.raw,
  notes: [`RSS when ready, before any job: ours ${round(median(idleRss.ours), 1)} MiB, raw ${round(median(idleRss.raw), 1)} MiB`],
});

const latency: Record<Side, { p50: number[]; p99: number[] }> = { ours: { p50: [], p99: [] }, raw: { p50: [], p99: [] } };
const latencyPair: Pair = {
  id: '4',
  name: `enqueue → processor start, ${LATENCY_JOBS} jobs 1 ms apart, p99`,
  metric: 'ms',
  better: 'lower',
  target: 1.1,
  ours: [],
  raw: [],
};
await alternate(latencyPair, async (side, warmup) => {
  await flush();
  const count = warmup ? 200 : LATENCY_JOBS;
  const child = spawnTs('bench/children/worker.ts', workerEnv(side, 'latency', count));
  await child.next('ready');
  await sleep(300);
  const tag = `l${jobRound++}`;
  const done = child.next<{ latencies: number[] }>('done');
  for (let i = 0; i < count; i++) {
    const userId = `${tag}-${i}@${wallClockMs().toFixed(3)}`;
    // Ours sealed as our producers store it (the worker opens it before the processor starts).
    if (side === 'ours') {
      const { data, opts } = oursJob(userId, i);
      await producers.ours.add('verify', data, opts);
    } else await producers.raw.add('verify', verifyPayload(userId), emailJobOptions);
    await sleep(1);
  }
  const { latencies } = await done;
  child.send({ type: 'stop' });
  await sleep(200);
  await child.kill();
  if (!warmup) latency[side].p50.push(round(percentile(latencies, 50), 2));
  return round(percentile(latencies, 99), 2);
});
pairs.push({
  id: '4b',
  name: 'enqueue → processor start, p50',
  metric: 'ms',
  better: 'lower',
  ours: latency.ours.p50,
  raw: latency.raw.p50,
});

// ── pair 5: e-mail, pooled transport vs one connection per mail ──────────────────────────────
const sink = await startSmtpSink();
const mailPair: Pair = {
  id: '5',
  name: `e-mail to a local SMTP sink, ${MAILS} mails, 10 in flight`,
  metric: 'mails/s',
  better: 'higher',
  ours: [],
  raw: [],
  labels: ['pooled (ours)', 'connection per mail'],
};
await alternate(mailPair, async (side, warmup) => {
  const count = warmup ? 200 : MAILS;
  sink.messages.length = 0;
  const child = spawnTs('bench/children/mailer.ts', {
    BENCH_SIDE: side === 'ours' ? 'pooled' : 'single',
    BENCH_COUNT: String(count),
    BENCH_IN_FLIGHT: '10',
    SMTP_URL: sink.url,
  });
  const { ms } = await child.next<{ ms: number }>('done');
  await child.kill();
  await sleep(100);
  if (sink.messages.length !== count) throw new Error(`${side}: the sink received ${sink.messages.length} mails, expected ${count}`);
  return (count / ms) * 1000;
});
await sink.close();

await Promise.all([rawQueue.close(), producers.ours.close(), producers.raw.close()]);
await admin.quit();
await redis.close();
await postgres.close();

// ── report ───────────────────────────────────────────────────────────────────────────────────
const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  node: process.version,
  redis: execFileSync('redis-server', ['--version']).toString().trim(),
};
const rows = pairs
  .filter((pair) => pair.ours.length > 0)
  .sort((a, b) => a.id.localeCompare(b.id))
  .map((pair) => {
    const ours = median(pair.ours);
    const raw = median(pair.raw);
    const ratio = ours / raw;
    const met = pair.target === undefined ? undefined : pair.better === 'higher' ? ratio >= pair.target : ratio <= pair.target;
    return { ...pair, oursMedian: round(ours), rawMedian: round(raw), ratio: round(ratio, 3), met };
  });
const seconds = Math.round((Date.now() - started) / 1000);
console.log(
  `\n${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, ${machine.redis.split(' ').slice(0, 3).join(' ')}; ${ROUNDS} rounds per side, medians; ${seconds} s${TENANTS > 0 ? `; ours with ${TENANTS} tenants` : ''}\n`,
);
const table = rows.map((row) => ({
  pair: row.id,
  what: row.name,
  ours: `${row.oursMedian} ${row.metric}`,
  raw: `${row.rawMedian} ${row.metric}`,
  'ours/raw': row.ratio,
  target: row.target === undefined ? '' : `${row.better === 'higher' ? '≥' : '≤'} ${row.target}`,
  met: row.met === undefined ? '' : row.met ? 'yes' : 'NO',
}));
console.table(table);
for (const row of rows) for (const note of row.notes ?? []) console.log(`pair ${row.id}: ${note}`);
const cpuTable = Object.entries(cpuPerUnit).flatMap(([pairId, sides]) =>
  (['ours', 'raw'] as const).flatMap((side) =>
    Object.entries(sides[side]).map(([process, values]) => ({
      pair: pairId,
      side,
      process,
      'CPU µs per unit (median)': round(median(values), 1),
    })),
  ),
);
if (cpuTable.length > 0) {
  console.log('\nCPU time per request (pair 1) or job (pairs 2, 3), by process; the bench process runs autocannon and the raw producers:');
  console.table(cpuTable);
}
await mkdir(`${ROOT}bench/results`, { recursive: true });
const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
await writeFile(
  `${ROOT}${file}`,
  JSON.stringify(
    { startedAt: new Date(started).toISOString(), seconds, machine, rounds: ROUNDS, tenants: TENANTS, pairs: rows, cpuPerUnit: cpuTable },
    null,
    2,
  ),
);
console.log(`\nresults: ${file}`);
process.exit(0);
