// The platform on a real Redis Cluster (3 masters, a replica each): each queue's keys in one slot,
// the queues spread over the shards, the whole job path, a master killed mid-load (issue #30).
import { loadQueuesConfig, logReplicaTargets, QUEUE_NAMES, QueueClient, QueueUnavailableError } from '@ceres/queues';
import { clusterClient, startRedisCluster, waitFor, type RedisCluster } from '@ceres/testing';
import { Redis, type Cluster } from 'ioredis';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliJson } from '../apps/cli/tests/helpers';
import { buildApp as buildQueuesUi } from '../apps/queues-ui/src/app';
import { AUTH, GOOD_AUTH } from '../apps/queues-ui/tests/helpers/stack';
import { createWorkerApp } from '../apps/worker/src/app';
import { createLogger } from '../apps/worker/src/deps/logger';
import { configFor, useTestBed, workerEnv } from '../apps/worker/tests/helpers/harness';

const bed = useTestBed();
let cluster: RedisCluster;
let admin: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
  admin = clusterClient(cluster);
}, 120_000);

afterAll(async () => {
  admin?.disconnect();
  await cluster?.close();
});

/** The apps' environment on the cluster: `REDIS_URL` only for credentials (none here). */
const clusterEnv = (extra: Record<string, string> = {}) =>
  workerEnv(bed.peers, { REDIS_URL: 'redis://127.0.0.1:1', ...cluster.env, ...extra, REDIS_PREFIX: cluster.env.REDIS_PREFIX! });

/** Every log line of an app, as text: a CROSSSLOT anywhere is a script or pipeline spanning slots. */
function logSink(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

/** Every key of `prefix` on the current masters: `key → slot`. */
async function keysOnMasters(prefix: string): Promise<Map<string, { slot: number; port: number }>> {
  const found = new Map<string, { slot: number; port: number }>();
  for (const node of admin.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) found.set(key, { slot: Number(await node.cluster('KEYSLOT', key)), port: node.options.port! });
    } while (cursor !== '0');
  }
  return found;
}

describe('on a Redis Cluster', () => {
  it('enqueue → worker → dead letter → replay → erasure; each queue in one slot, the queues on every shard; no CROSSSLOT', async () => {
    const env = clusterEnv({ LOG_LEVEL: 'info' });
    const logs = logSink();
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('info', logs.stream) });
    bed.apps.push(app);
    await app.started;
    const producer = bed.producer(env);
    bed.peers.smtp.setRules([{ match: 'ana@example.com', code: 550 }]);

    // One job in each queue a producer may fill, and a refused mail.
    const ana = await producer.enqueue('email/welcome', { userId: 'u-ana', email: 'ana@example.com', firstName: 'Ana' });
    const bo = await producer.enqueue('email/welcome', { userId: 'u-bo', email: 'bo@example.com', firstName: 'Bo' });
    await producer.enqueueBulk(
      'slack/alert',
      ['disk', 'cpu'].map((what) => ({ text: `${what} almost full`, dedupeKey: what })),
    );
    const again = await producer.enqueue('email/welcome', { userId: 'u-bo', email: 'bo@example.com', firstName: 'Bo' });
    expect(again).toEqual({ jobId: bo.jobId, duplicate: true });
    await bed.peers.smtp.waitForMessages(1, 15_000);
    await waitFor(() => bed.peers.slack.requests.filter((request) => request.status === 200).length >= 2, {
      timeoutMs: 15_000,
      what: 'both alerts posted',
    });

    // The refused mail is a dead letter in PostgreSQL; the CLI (on the cluster) lists and replays it.
    type Failures = { failures: Array<{ id: number; jobId: string }> };
    const failures = await waitFor(
      async () => {
        const { failures: rows } = await cliJson<Failures>(env, ['failed', 'list']);
        return rows.length > 0 ? rows : undefined;
      },
      { timeoutMs: 20_000, what: 'the dead letter archived' },
    );
    expect(failures.map((row) => row.jobId)).toEqual([ana.jobId]);
    bed.peers.smtp.setRules([]);
    const replayed = await cliJson<{ results: Array<{ outcome: string }> }>(env, ['failed', 'retry', String(failures[0]!.id)]);
    expect(replayed.results[0]?.outcome).toBe('replayed');
    await waitFor(() => bed.peers.smtp.messages.some((mail) => mail.envelope.to.includes('ana@example.com')), {
      timeoutMs: 20_000,
      what: "Ana's mail after the replay",
    });
    const email = producer.getQueue('email');
    await waitFor(async () => (await email.getJobState(ana.jobId)) === 'completed', {
      timeoutMs: 10_000,
      what: 'the replayed job completed',
    });

    // Erasure finds the user's jobs on the email queue's shard (a SCAN of that master) and removes them.
    const erased = await cliJson<{ jobs: number; jobsByQueue: Record<string, number> }>(env, ['erase', 'u-ana', '--yes']);
    expect(erased.jobsByQueue.email).toBeGreaterThanOrEqual(1);
    expect(await email.getJob(ana.jobId)).toBeUndefined();
    expect(await email.getJob(bo.jobId)).toBeDefined();

    // The admin API, Bull Board's data and /metrics read the cluster as they read one Redis.
    const uiClient = new QueueClient({ config: loadQueuesConfig(env), connectionName: 'queues-ui-test', onWarning: () => {} });
    bed.producers.push(uiClient);
    await uiClient.ready();
    const ui = buildQueuesUi({ client: uiClient, auth: AUTH });
    try {
      await ui.ready();
      const get = async (url: string) => {
        const response = await ui.inject({ method: 'GET', url, headers: GOOD_AUTH });
        expect([url, response.statusCode]).toEqual([url, 200]);
        return response.body;
      };
      const stats = JSON.parse(await get('/api/queues/stats')) as { queues: Record<string, { completed: number; failed: number }> };
      expect(stats.queues.email?.completed).toBeGreaterThanOrEqual(1);
      const board = JSON.parse(await get('/ui/api/queues')) as { queues: Array<{ name: string }> };
      expect(board.queues.map((queue) => queue.name).sort()).toEqual([...QUEUE_NAMES].sort());
      const metrics = await get('/metrics');
      expect(metrics).toMatch(/ceres_queue_jobs\{queue="email",state="completed"\} [1-9]/);
      expect(metrics).toMatch(/ceres_redis_memory_used_bytes [1-9]/);
      // The worker's connections are found on the queue's master (CLIENT LIST of every node).
      expect(metrics).toMatch(/ceres_queue_workers\{queue="email"\} [1-9]/);
    } finally {
      await ui.close();
    }

    // Every key of a queue is in its queue's slot; the queues are on every shard.
    const keys = await keysOnMasters(`${env.REDIS_PREFIX}queue:`);
    const slotsOf = new Map<string, Set<number>>();
    for (const [key, { slot }] of keys) {
      const queue = /^[^{]*\{([^}]+)\}/.exec(key)?.[1];
      expect(queue, key).toBeDefined();
      slotsOf.set(queue!, new Set([...(slotsOf.get(queue!) ?? []), slot]));
    }
    for (const [queue, slots] of slotsOf) expect([queue, slots.size]).toEqual([queue, 1]);
    const portsOfQueues = new Set(await Promise.all(QUEUE_NAMES.map(async (queue) => cluster.masterPortOf(`{${queue}}`))));
    expect(portsOfQueues.size).toBe(3);
    expect(logs.lines.join('\n')).not.toMatch(/CROSSSLOT/);
  }, 120_000);

  it('a master killed mid-load: its replica takes over, the producers and the worker go on by themselves, 0 acknowledged jobs lost with REDIS_WAIT_REPLICAS=1', async () => {
    const env = clusterEnv({ LOG_LEVEL: 'info', REDIS_WAIT_REPLICAS: '1' });
    const logs = logSink();
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('info', logs.stream) });
    bed.apps.push(app);
    await app.started;
    const producers: QueueClient[] = [bed.producer(env), bed.producer(env)];
    await Promise.all(producers.map((producer) => producer.ready()));

    const acknowledged: string[] = [];
    let refused = 0;
    let stop = false;
    let sequence = 0;
    const faults: string[] = [];
    const load = producers.flatMap((producer) =>
      [0, 1].map(async () => {
        while (!stop) {
          const n = sequence++;
          try {
            const { jobId } = await producer.enqueue('email/welcome', {
              userId: `load-${n}`,
              email: `load-${n}@example.com`,
              firstName: 'L',
            });
            acknowledged.push(jobId);
          } catch (error) {
            if (!(error instanceof QueueUnavailableError)) faults.push(String(error));
            refused += 1;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      }),
    );
    await waitFor(() => acknowledged.length >= 100, { timeoutMs: 15_000, what: 'the load to run' });
    const killed = await cluster.killMasterOf('{email}');
    const ackAtKill = acknowledged.length;
    // The new master has no replica until the old one is back: WAIT 1 refuses (503) meanwhile.
    await cluster.restart(killed.killedPort);
    await waitFor(() => acknowledged.length >= ackAtKill + 100, { timeoutMs: 30_000, what: 'enqueues accepted again' });
    stop = true;
    await Promise.all(load);
    expect(faults).toEqual([]);

    const email = producers[0]!.getQueue('email');
    const states = async () => Promise.all(acknowledged.map((jobId) => email.getJobState(jobId)));
    await waitFor(async () => (await states()).every((state) => state === 'completed'), {
      timeoutMs: 60_000,
      what: 'every acknowledged job completed',
    });
    const lost = (await states()).filter((state) => state === 'unknown');
    console.log('cluster failover figures:', { acknowledged: acknowledged.length, refused, promotedAfterMs: killed.promotedAfterMs });
    expect(lost).toEqual([]);
    expect(logs.lines.join('\n')).not.toMatch(/CROSSSLOT/);
  }, 180_000);
});

describe('REDIS_WAIT_REPLICAS=all on a Redis Cluster', () => {
  it("waits for each written queue's master's own replicas, as CLUSTER NODES lists them, and follows a failover", async () => {
    const env = clusterEnv({ REDIS_WAIT_REPLICAS: 'all' });
    const reports: number[] = [];
    const stopLogging = logReplicaTargets({ info: (fields) => reports.push((fields as { replicas: number }).replicas), warn: () => {} });
    try {
      const producer = bed.producer(env);
      await producer.ready();
      const waits = async (port: number) => {
        const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
        try {
          return Number(/cmdstat_wait:calls=(\d+)/.exec(await node.info('commandstats'))?.[1] ?? 0);
        } finally {
          node.disconnect();
        }
      };
      const emailPort = await cluster.masterPortOf('{email}');
      const filesPort = await cluster.masterPortOf('{files}');
      const before = { email: await waits(emailPort), files: await waits(filesPort) };
      await producer.enqueue('email/welcome', { userId: 'all-1', email: 'all-1@example.com', firstName: 'A' });
      // 3 masters, a replica each; the WAIT went to the email queue's master only.
      expect(reports).toEqual([3]);
      expect(await waits(emailPort)).toBe(before.email + 1);
      expect(await waits(filesPort)).toBe(before.files);

      // Its master killed: the promoted replica has none until the old master is back as its replica.
      const killed = await cluster.killMasterOf('{email}');
      await waitFor(() => reports.at(-1) === 2, { timeoutMs: 15_000, what: 'the target to count the lost replica' });
      await cluster.restart(killed.killedPort);
      await waitFor(() => reports.at(-1) === 3, { timeoutMs: 15_000, what: "the old master counted again as the new one's replica" });
      const waitsBefore = await waits(killed.newMasterPort);
      await producer.enqueue('email/welcome', { userId: 'all-2', email: 'all-2@example.com', firstName: 'A' });
      expect(await waits(killed.newMasterPort)).toBe(waitsBefore + 1);
    } finally {
      stopLogging();
    }
  }, 120_000);
});

// The queues' settings are per cluster node, not per database: nothing selects a DB.
it('a cluster config names no database', () => {
  expect(loadQueuesConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000' }).redisDb).toBe(0);
});
