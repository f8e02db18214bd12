// A Redis failover under load: one master, replicas and three real sentinels; four clients
// enqueue through the API while a worker processes (tests/lib/failover.ts).
import { startRedisSentinelGroup, type RedisSentinelGroup } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeers, type Peers } from '../apps/worker/tests/helpers/harness';
import { underLoad as run, type FailoverRun } from './lib/failover';

let peers: Peers;

beforeAll(async () => {
  peers = await startPeers();
}, 60_000);

afterAll(async () => {
  await peers?.close();
});

const underLoad = (group: RedisSentinelGroup, mode: 'failover' | 'kill', extra: Record<string, string>) => run(peers, group, mode, extra);

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

const report = ({ timeline, ...run }: FailoverRun, name: string, explain = false) => {
  console.log(
    `failover figures (${name}): ${JSON.stringify({ ...run, acknowledged: run.acknowledged.length, lost: run.lost.length, notCompleted: run.notCompleted.length })}`,
  );
  if (explain) console.log(`what the nodes said (ms after the promotion):\n  ${timeline.join('\n  ')}`);
};

// A manual failover with WAIT as high as the replicas: the replicas follow the new master when a
// sentinel next reads the demoted one's INFO (Sentinel does that every 10 s), and until then no
// write can be confirmed by them: 503 meanwhile, nothing acknowledged lost.
const manualFailovers = [
  {
    replicas: 1,
    wait: '1',
    back: 'replicaBackAfterMs',
    title:
      '503 until the new master has a replica again, accepting within 2 s of it; the worker back within 10 s; no acknowledged job lost',
  },
  {
    replicas: 2,
    wait: 'all',
    back: 'allReplicasBackAfterMs',
    title: 'no acknowledged job lost (WAIT 1 lost some here); 503 until both replicas follow the new master, accepting within 2 s of it',
  },
] as const;

for (const { replicas, wait, back, title } of manualFailovers) {
  describe(`SENTINEL FAILOVER, ${replicas === 1 ? 'one replica' : 'two replicas'}, REDIS_WAIT_REPLICAS=${wait}`, () => {
    const group = withGroup(replicas);
    it(
      title,
      async () => {
        const run = await underLoad(group(), 'failover', { REDIS_WAIT_REPLICAS: wait });
        const backAfterMs = run[back];
        report(run, `failover, ${replicas} replica(s), WAIT ${wait}`, (run.refusedUntil ?? 0) >= (backAfterMs ?? 0) + 2_000);
        expect(run.acknowledged.length).toBeGreaterThan(50);
        expect(backAfterMs).toBeDefined();
        if (run.refusedUntil !== undefined) expect(run.refusedUntil).toBeLessThan(backAfterMs! + 2_000);
        expect(run.lastAckAfterMs).toBeGreaterThan(backAfterMs! + 1_000);
        expect(run.workerBackAfterMs).toBeLessThan(10_000);
        expect(run.lost).toEqual([]);
        expect(run.notCompleted).toEqual([]);
      },
      90_000,
    );
  });
}

describe('SIGKILL of the master, two replicas, REDIS_WAIT_REPLICAS=1', () => {
  const group = withGroup(2);
  it('503 only around the switch, back within 10 s by itself, the worker too, and no acknowledged job lost', async () => {
    const run = await underLoad(group(), 'kill', { REDIS_WAIT_REPLICAS: '1' });
    report(run, 'kill, 2 replicas, WAIT 1', (run.refusedUntil ?? 0) >= 10_000);
    expect(run.acknowledged.length).toBeGreaterThan(50);
    if (run.refusedUntil !== undefined) expect(run.refusedUntil).toBeLessThan(10_000);
    expect(run.workerBackAfterMs).toBeLessThan(10_000);
    expect(run.lost).toEqual([]);
    expect(run.notCompleted).toEqual([]);
  }, 90_000);
});

describe('SIGKILL of the master, two replicas, REDIS_WAIT_REPLICAS=all', () => {
  const group = withGroup(2);
  // The dead master counts until the sentinels flag it down (down-after-milliseconds, 1 s here).
  it('503 until the dead master is out of the count, back within 10 s by itself, the worker too; no acknowledged job lost', async () => {
    const run = await underLoad(group(), 'kill', { REDIS_WAIT_REPLICAS: 'all' });
    report(run, 'kill, 2 replicas, WAIT all', (run.refusedUntil ?? 0) >= 10_000);
    expect(run.acknowledged.length).toBeGreaterThan(50);
    if (run.refusedUntil !== undefined) expect(run.refusedUntil).toBeLessThan(10_000);
    expect(run.workerBackAfterMs).toBeLessThan(10_000);
    expect(run.lost).toEqual([]);
    expect(run.notCompleted).toEqual([]);
  }, 90_000);
});

describe('SIGKILL of the master, one replica, no WAIT', () => {
  const group = withGroup(1);
  it('back within 10 s by itself, the worker too; the acknowledged jobs lost are reported', async () => {
    const run = await underLoad(group(), 'kill', {});
    report(run, 'kill, 1 replica, no WAIT', (run.refusedUntil ?? 0) >= 10_000);
    expect(run.acknowledged.length).toBeGreaterThan(50);
    if (run.refusedUntil !== undefined) expect(run.refusedUntil).toBeLessThan(10_000);
    expect(run.workerBackAfterMs).toBeLessThan(10_000);
  }, 90_000);
});
