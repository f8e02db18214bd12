// `npm run bench:scale -- --cluster`: the queues on a real Redis Cluster (3 masters, a replica
// each, on this machine) against one Redis with a replica: where each queue's slot lives, the enqueue and drain
// rates, and the Redis CPU each job costs on each shard (INFO cpu of every master, before and after).
// BENCH_SCALE_CLUSTER_JOBS jobs per queue (default 20000) in email and files, drained by one worker
// process consuming both. Prints the rows and writes bench/results/scale-cluster-<time>.json.
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { migrate } from '@ceres/db';
import { createQueueClient, loadQueuesConfig, type QueueClient, type QueueName } from '@ceres/queues';
import { startPostgresServer, startRedisCluster, startRedisServer, testEncryptionKey, waitFor } from '@ceres/testing';
import { Redis } from 'ioredis';
import { ROOT, spawnTs } from './lib/child';
import { verifyPayload } from './lib/payload';

const JOBS = Number(process.env.BENCH_SCALE_CLUSTER_JOBS ?? 20_000);
// Two queues without a rate of their own (slack's 1/s would bound the drain), on two shards.
const QUEUES: QueueName[] = ['email', 'files'];
const log = (message: string) => console.log(`[scale:cluster ${new Date().toISOString().slice(11, 19)}] ${message}`);
const results: Array<Record<string, unknown>> = [];
const record = (row: Record<string, unknown>) => {
  results.push(row);
  log(JSON.stringify(row));
};

const payloadOf = (queue: QueueName, n: number) =>
  queue === 'email' ? verifyPayload(`c${n}`) : { userId: `c${n}`, fileKey: `cv/c${n}.pdf` };

/** used_cpu_user + used_cpu_sys of a node, in ms. */
async function cpuMs(node: Redis): Promise<number> {
  const info = await node.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

/** Enqueues, then drains, JOBS per queue on `env`'s Redis; `nodes` are the masters to read CPU from. */
async function run(
  label: string,
  env: Record<string, string>,
  nodes: Array<{ port: number; redis: Redis }>,
  shardOf: Map<QueueName, number>,
) {
  const client: QueueClient = createQueueClient({ config: loadQueuesConfig(env) });
  await client.ready();
  for (const queue of QUEUES) await client.getQueue(queue).pause();
  const cpuBefore = await Promise.all(nodes.map(({ redis }) => cpuMs(redis)));
  let t = performance.now();
  await Promise.all(
    QUEUES.flatMap((queue) =>
      [0, 1].map(async (half) => {
        for (let i = half * 1000; i < JOBS; i += 2000) {
          const items = Array.from({ length: Math.min(1000, JOBS - i) }, (_, j) => payloadOf(queue, i + j));
          await client.enqueueBulk(queue === 'email' ? 'email/verify' : 'files/validate-cv', items as never);
        }
      }),
    ),
  );
  const enqueueSeconds = (performance.now() - t) / 1000;
  const cpuEnqueued = await Promise.all(nodes.map(({ redis }) => cpuMs(redis)));
  const worker = spawnTs('bench/children/worker.ts', {
    ...env,
    BENCH_SIDE: 'ours',
    BENCH_TASK: 'throughput',
    BENCH_COUNT: String(JOBS * QUEUES.length),
    BENCH_NOOP_QUEUES: QUEUES.join(','),
  });
  await worker.next('ready');
  t = performance.now();
  for (const queue of QUEUES) await client.getQueue(queue).resume();
  await worker.next('done');
  const drainSeconds = (performance.now() - t) / 1000;
  const cpuDrained = await Promise.all(nodes.map(({ redis }) => cpuMs(redis)));
  await worker.kill('SIGTERM');
  const perShard = nodes.map(({ port }, index) => {
    const queues = QUEUES.filter((queue) => shardOf.get(queue) === port);
    const jobs = queues.length * JOBS;
    const perJob = (from: number[], to: number[]) => (jobs === 0 ? null : Math.round(((to[index]! - from[index]!) * 1000) / jobs));
    return {
      master: port,
      queues: queues.join(',') || '-',
      'enqueue: Redis CPU ms': Math.round(cpuEnqueued[index]! - cpuBefore[index]!),
      'enqueue: µs per job': perJob(cpuBefore, cpuEnqueued),
      'drain: Redis CPU ms': Math.round(cpuDrained[index]! - cpuEnqueued[index]!),
      'drain: µs per job': perJob(cpuEnqueued, cpuDrained),
    };
  });
  record({
    measure: `${label}: ${JOBS} jobs in each of ${QUEUES.join(' and ')}, enqueued in batches of 1000 (4 in flight), drained by one worker process`,
    'enqueue jobs/s': Math.round((JOBS * QUEUES.length) / enqueueSeconds),
    'drain jobs/s': Math.round((JOBS * QUEUES.length) / drainSeconds),
    perShard,
  });
  await client.close();
}

const started = Date.now();
const postgres = await startPostgresServer();
await migrate(postgres.url);
const base = {
  DATABASE_URL: postgres.url,
  BENCH_DATABASE_URL: postgres.url,
  UNSUBSCRIBE_SECRET: 'bench-unsubscribe-secret-0123',
  LOG_LEVEL: 'warn',
  JOBS_ENCRYPTION_KEYS: testEncryptionKey('scale1'),
};

// One Redis with a replica, as deployed today (each cluster master below feeds one replica too).
{
  const redis = await startRedisServer();
  const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(redis.port)] });
  const node = new Redis(redis.url);
  await waitFor(async () => /connected_slaves:1/.test(await node.info('replication')), { what: 'the replica to attach' });
  const shardOf = new Map(QUEUES.map((queue) => [queue, redis.port]));
  await run(
    'one Redis and its replica',
    { ...base, REDIS_URL: redis.url, REDIS_PREFIX: 'single:' },
    [{ port: redis.port, redis: node }],
    shardOf,
  );
  node.disconnect();
  await Promise.all([redis.close(), replica.close()]);
}

// The cluster: each queue's hash tag decides its master.
{
  const cluster = await startRedisCluster();
  const masters = await cluster.masterPorts();
  const nodes = masters.map((port) => ({ port, redis: new Redis({ port, host: '127.0.0.1' }) }));
  const shardOf = new Map<QueueName, number>();
  const spread: Record<string, string> = {};
  for (const queue of ['email', 'slack', 'files', 'maintenance', 'newsletter'] as QueueName[]) {
    const port = await cluster.masterPortOf(`{${queue}}`);
    shardOf.set(queue, port);
    spread[queue] = `slot ${await nodes[0]!.redis.cluster('KEYSLOT', `{${queue}}`)} on master ${masters.indexOf(port) + 1} (:${port})`;
  }
  record({ measure: 'where the queues live (3 masters, the slots of redis-cli --cluster create)', ...spread });
  await run('Redis Cluster', { ...base, ...cluster.env, REDIS_URL: 'redis://127.0.0.1:1' }, nodes, shardOf);
  for (const { redis } of nodes) redis.disconnect();
  await cluster.close();
}

await postgres.close();
const file = `${ROOT}bench/results/scale-cluster-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
await writeFile(file, JSON.stringify({ cpus: os.cpus().length, node: process.version, jobsPerQueue: JOBS, results }, null, 2));
log(`done in ${Math.round((Date.now() - started) / 1000)} s; ${file}`);
process.exit(0);
