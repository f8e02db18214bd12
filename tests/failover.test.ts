// A Redis failover under load: one master, two replicas and three real sentinels; four clients
// enqueue through the API while a worker processes. The switch is a `SENTINEL FAILOVER` or a
// SIGKILL of the master.
import { startRedisSentinelGroup, waitFor, type RedisSentinelGroup } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../apps/api/src/app';
import { loadApiConfig } from '../apps/api/src/config';
import { createWorkerApp } from '../apps/worker/src/app';
import { createLogger } from '../apps/worker/src/deps/logger';
import { configFor, startPeers, workerEnv, type Peers } from '../apps/worker/tests/helpers/harness';
import { QueueClient } from '@ceres/queues';
import { Redis } from 'ioredis';

const TOKEN = 'failover-token-0123456789';
let peers: Peers;

beforeAll(async () => {
  peers = await startPeers();
}, 60_000);

afterAll(async () => {
  await peers?.close();
});

export interface FailoverRun {
  acknowledged: string[];
  refused: number;
  /** ms from the switch (SENTINEL FAILOVER sent, or the master killed) until the sentinels name the new master. */
  promotedAfterMs: number;
  /** ms after the promotion of the first and last 503. */
  refusedFrom?: number;
  refusedUntil?: number;
  /** ms after the promotion at which the worker completed a job enqueued after it. */
  workerBackAfterMs: number;
  /** ms after the promotion at which the new master had a replica in sync again. */
  replicaBackAfterMs?: number;
  /** ms after the promotion of the last 202. */
  lastAckAfterMs: number;
  lost: string[];
}

/** Runs the load, switches the master after 1 s, keeps the load 8 s more, then checks every acknowledged job. */
async function underLoad(group: RedisSentinelGroup, mode: 'failover' | 'kill', extra: Record<string, string>): Promise<FailoverRun> {
  const env = { ...workerEnv(peers), REDIS_URL: 'redis://127.0.0.1:1', ...group.env, REDIS_PREFIX: `f${Date.now() % 100000}:`, SLACK_WEBHOOK_URL: '', ...extra };
  delete (env as Record<string, string>).SLACK_WEBHOOK_URL;
  const worker = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
  const config = loadApiConfig({ ...env, API_TOKENS: TOKEN, LOG_LEVEL: 'silent', API_RATE_LIMIT_MAX: '1000000' });
  const queues = new QueueClient({ config: config.queues, onWarning: () => {} });
  const api = buildApp({ config, queues });
  await Promise.all([worker.started, api.ready(), queues.ready()]);
  const acknowledged: string[] = [];
  const refusedAt: number[] = [];
  let switchedAt = Number.POSITIVE_INFINITY;
  let sequence = 0;
  let stop = false;
  let lastAckAt = 0;
  const client = async () => {
    while (!stop) {
      const key = `fo-${sequence++}`;
      const response = await api.inject({
        method: 'POST',
        url: '/jobs/slack/alert',
        headers: { authorization: `Bearer ${TOKEN}` },
        payload: { text: `failover ${key}`, dedupeKey: key },
      });
      if (response.statusCode === 202) {
        acknowledged.push(response.json().jobId as string);
        lastAckAt = Date.now();
      }
      else if (response.statusCode === 503) {
        refusedAt.push(Date.now());
        if (process.env.FAILOVER_DEBUG) console.log(Date.now() - switchedAt, response.json().message);
      }
      else throw new Error(`unexpected ${response.statusCode}: ${response.body}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const clients = Array.from({ length: 4 }, client);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const switchStarted = Date.now();
    const oldMaster = await group.masterPort();
    if (mode === 'failover') await group.failover();
    else {
      await group.nodes.find((node) => node.port === oldMaster)!.kill();
      await waitFor(async () => (await group.masterPort().catch(() => oldMaster)) !== oldMaster, { timeoutMs: 20_000, intervalMs: 50, what: 'the sentinels to promote a replica' });
    }
    switchedAt = Date.now();
    const promotedAfterMs = switchedAt - switchStarted;
    const newMaster = new Redis({ port: await group.masterPort(), host: '127.0.0.1', maxRetriesPerRequest: 1 });
    newMaster.on('error', () => {});
    const replicaBack = (extra.REDIS_WAIT_REPLICAS ? waitFor(async () => /slave\d+:[^\r\n]*state=online/.test(await newMaster.info('replication')), { timeoutMs: 30_000, intervalMs: 50, what: 'a replica of the new master in sync' })
      .then(() => Date.now() - switchedAt, () => undefined) : Promise.resolve(undefined))
      .finally(() => newMaster.disconnect());
    // A job enqueued after the switch: when does the worker complete one again?
    const probe = await waitFor(async () => queues.enqueue('slack/alert', { text: 'probe', dedupeKey: `probe-${mode}` }).catch(() => undefined), { timeoutMs: 15_000, what: 'an enqueue after the switch' });
    await waitFor(async () => (await queues.getQueue('slack').getJobState(probe.jobId).catch(() => undefined)) === 'completed', { timeoutMs: 20_000, what: 'the worker to complete a job after the switch' });
    const workerBackAfterMs = Date.now() - switchedAt;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 8_000 - workerBackAfterMs)));
    // With WAIT, keep the load until a replica is back and a little longer.
    const replicaBackAfterMs = await replicaBack;
    if (replicaBackAfterMs !== undefined) await waitFor(() => Date.now() - switchedAt > replicaBackAfterMs + Number(process.env.FAILOVER_TAIL_MS ?? 2_000), { timeoutMs: 30_000 });
    stop = true;
    await Promise.all(clients);
    const slack = queues.getQueue('slack');
    // Every acknowledged job either completed or is still on its way (never gone).
    await waitFor(async () => (await slack.getJobCounts('waiting', 'active', 'delayed')).waiting === 0, { timeoutMs: 30_000, what: 'the backlog to drain' });
    const states = await Promise.all(acknowledged.map(async (id) => [id, await slack.getJobState(id)] as const));
    return {
      acknowledged,
      refused: refusedAt.length,
      promotedAfterMs,
      refusedFrom: refusedAt.length ? Math.min(...refusedAt) - switchedAt : undefined,
      refusedUntil: refusedAt.length ? Math.max(...refusedAt) - switchedAt : undefined,
      workerBackAfterMs,
      replicaBackAfterMs,
      lastAckAfterMs: lastAckAt - switchedAt,
      lost: states.filter(([, state]) => state !== 'completed').map(([id]) => id),
    };
  } finally {
    stop = true;
    await Promise.allSettled(clients);
    await api.close();
    await queues.close();
    await worker.stop(true);
  }
}

/** Each scenario on a group of its own: a kill leaves the group one node short. */
function withGroup(replicas: number): () => RedisSentinelGroup {
  let group: RedisSentinelGroup;
  beforeAll(async () => {
    group = await startRedisSentinelGroup({ replicas, sentinels: 3 });
  }, 60_000);
  afterAll(async () => {
    await group?.close();
  });
  return () => group;
}

const report = (name: string, run: FailoverRun) =>
  console.log(`failover figures (${name}): ${JSON.stringify({ ...run, acknowledged: run.acknowledged.length, lost: run.lost.length })}`);

describe('SENTINEL FAILOVER, one replica, REDIS_WAIT_REPLICAS=1', () => {
  const group = withGroup(1);
  it('503 until the new master has a replica again, accepting within 2 s of it; the worker back within 10 s; no acknowledged job lost', async () => {
    const run = await underLoad(group(), 'failover', { REDIS_WAIT_REPLICAS: '1' });
    report('failover, 1 replica, WAIT 1', run);
    expect(run.acknowledged.length).toBeGreaterThan(50);
    // The demoted master becomes the new master's replica when a sentinel next reads its INFO
    // (Sentinel does that every 10 s): until then no write can be confirmed by a replica.
    expect(run.replicaBackAfterMs).toBeDefined();
    if (run.refusedUntil !== undefined) expect(run.refusedUntil).toBeLessThan(run.replicaBackAfterMs! + 2_000);
    expect(run.lastAckAfterMs).toBeGreaterThan(run.replicaBackAfterMs! + 1_000);
    expect(run.workerBackAfterMs).toBeLessThan(10_000);
    expect(run.lost).toEqual([]);
  }, 90_000);
});

describe('SIGKILL of the master, two replicas, REDIS_WAIT_REPLICAS=1', () => {
  const group = withGroup(2);
  it('503 only around the switch, back within 10 s by itself, the worker too, and no acknowledged job lost', async () => {
    const run = await underLoad(group(), 'kill', { REDIS_WAIT_REPLICAS: '1' });
    report('kill, 2 replicas, WAIT 1', run);
    expect(run.acknowledged.length).toBeGreaterThan(50);
    if (run.refusedUntil !== undefined) expect(run.refusedUntil).toBeLessThan(10_000);
    expect(run.workerBackAfterMs).toBeLessThan(10_000);
    expect(run.lost).toEqual([]);
  }, 90_000);
});

describe('SIGKILL of the master, one replica, no WAIT', () => {
  const group = withGroup(1);
  it('back within 10 s by itself, the worker too; the acknowledged jobs lost are reported', async () => {
    const run = await underLoad(group(), 'kill', {});
    report('kill, 1 replica, no WAIT', run);
    expect(run.acknowledged.length).toBeGreaterThan(50);
    if (run.refusedUntil !== undefined) expect(run.refusedUntil).toBeLessThan(10_000);
    expect(run.workerBackAfterMs).toBeLessThan(10_000);
  }, 90_000);
});
