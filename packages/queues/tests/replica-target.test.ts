// REDIS_WAIT_REPLICAS=all: the number of replicas to wait for follows what the sentinels (or a
// plain master) report, against real redis-server replicas and sentinels.
import { startRedisSentinelGroup, startRedisServer, waitFor, type RedisSentinelGroup, type RedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQueuesConfig, logReplicaTargets, MasterReplicaTarget, SentinelReplicaTarget } from '../src';

describe('with Sentinel: the replicas the sentinels list for the current master', () => {
  let group: RedisSentinelGroup;
  let target: SentinelReplicaTarget;

  beforeAll(async () => {
    group = await startRedisSentinelGroup({ replicas: 2, sentinels: 3 });
    target = new SentinelReplicaTarget(loadQueuesConfig({ ...group.env, REDIS_WAIT_REPLICAS: 'all' }).sentinel!);
  }, 60_000);

  afterAll(async () => {
    await target?.close();
    await group?.close();
  });

  it('2 replicas → 2; across a SENTINEL FAILOVER never fewer, the new master named; a replica killed → 1', async () => {
    const logged: object[] = [];
    const stopLog = logReplicaTargets({ info: (fields) => logged.push(fields), warn: (fields) => logged.push(fields) });
    expect(target.current()).toBeUndefined();
    expect(await target.ready(5_000)).toBe(2);
    stopLog();
    expect(logged).toEqual([{ replicas: 2, previous: undefined, why: 'start' }]);
    const oldMaster = await group.masterPort();
    expect(target.master).toBe(`127.0.0.1:${oldMaster}`);

    // What the writer would read, every 10 ms from the failover until the demoted master follows the new one.
    const seen: Array<number | undefined> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        seen.push(target.current());
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const newMaster = await group.failover();
    await waitFor(() => target.master === `127.0.0.1:${newMaster}`, { timeoutMs: 10_000, what: 'the target to read the new master' });
    const admin = new Redis({ port: newMaster, host: '127.0.0.1', lazyConnect: true }).on('error', () => {});
    try {
      await waitFor(async () => /connected_slaves:2/.test(await admin.info('replication')), {
        timeoutMs: 30_000,
        what: 'both replicas to follow the new master',
      });
    } finally {
      admin.disconnect();
      sampling = false;
      await sampler;
    }
    expect(seen.length).toBeGreaterThan(10);
    // Never 0 or 1 while the new master has fewer attached: WAIT refuses rather than acknowledges.
    expect(new Set(seen)).toEqual(new Set([2]));
    expect(target.current()).toBe(2);

    // A replica killed: the sentinels flag it down (down-after-milliseconds 1 s) and the count drops.
    const replica = group.nodes.find((node) => node.port !== newMaster)!;
    const killedAt = Date.now();
    await replica.kill();
    await waitFor(() => target.current() === 1, { timeoutMs: 15_000, what: 'the target to drop the killed replica' });
    expect(Date.now() - killedAt).toBeLessThan(15_000);
  }, 90_000);
});

describe('without Sentinel: the master’s connected_slaves', () => {
  let master: RedisServer;
  let replica: RedisServer;
  let connection: Redis;
  let target: MasterReplicaTarget;

  beforeAll(async () => {
    master = await startRedisServer();
    replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    connection = new Redis(master.url, { maxRetriesPerRequest: 1 });
    target = new MasterReplicaTarget(connection);
  }, 60_000);

  afterAll(async () => {
    await target?.close();
    connection?.disconnect();
    await Promise.allSettled([replica?.close(), master?.close()]);
  });

  it('1 attached replica → 1; after a shortfall once it is gone → 0', async () => {
    await waitFor(async () => /connected_slaves:1/.test(await connection.info('replication')), { what: 'the replica to attach' });
    expect(await target.ready(5_000)).toBe(1);
    await replica.kill();
    // A WAIT that fell short makes the target read again (at most once a second).
    await waitFor(
      () => {
        target.shortfall();
        return target.current() === 0;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the target to read 0 replicas' },
    );
  });
});
