// The Redis Cluster harness: a real cluster of redis-server processes whose masters fail over by
// themselves, and an ioredis Cluster client that follows a failover without help.
import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterClient, hasRedisCluster, startRedisCluster, waitFor, type RedisCluster } from '../src';

describe.skipIf(!hasRedisCluster())('startRedisCluster (skipped only when redis-server or redis-cli is missing)', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  let startupMs: number;

  beforeAll(async () => {
    const startedAt = Date.now();
    cluster = await startRedisCluster();
    startupMs = Date.now() - startedAt;
    console.info(`redis cluster of ${cluster.nodes.length} nodes ready after ${startupMs} ms`);
    client = clusterClient(cluster);
  }, 90_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.close();
  });

  it('starts 3 masters with a replica each, all serving the slots the seeds name', async () => {
    expect(cluster.nodes).toHaveLength(6);
    const roles = await Promise.all(cluster.nodes.map((node) => node.role()));
    expect(roles).toEqual(['master', 'master', 'master', 'replica', 'replica', 'replica']);
    expect(await cluster.masterPorts()).toEqual(
      cluster.nodes
        .slice(0, 3)
        .map((node) => node.port)
        .sort((a, b) => a - b),
    );
    expect(cluster.seeds.split(',')).toEqual(cluster.nodes.map((node) => `127.0.0.1:${node.port}`));
    expect(cluster.env).toEqual({ REDIS_CLUSTER_NODES: cluster.seeds, REDIS_PREFIX: cluster.prefix });
    expect(cluster.prefix).toMatch(/^[A-Za-z0-9_.-]+:$/);
  });

  it('promotes the replica of a killed master by itself; the client and the node come back', async () => {
    // Keys of three hash tags, one on each master (the tags are picked by their slots).
    const tags: string[] = [];
    const masters = new Set<number>();
    for (let i = 0; tags.length < 3; i++) {
      const master = await cluster.masterPortOf(`{t${i}}`);
      if (!masters.has(master)) {
        masters.add(master);
        tags.push(`t${i}`);
      }
    }
    const keys = tags.map((tag) => `${cluster.prefix}{${tag}}:value`);
    for (const key of keys) await client.set(key, `before:${key}`);
    const where = await Promise.all(keys.map((key) => cluster.masterPortOf(key)));
    expect(new Set(where).size).toBe(3);
    // Each key is on the master the harness names (not only the client's view).
    for (const [index, key] of keys.entries()) {
      const direct = new Redis({ port: where[index]!, host: '127.0.0.1', lazyConnect: true });
      try {
        expect(await direct.get(key)).toBe(`before:${key}`);
      } finally {
        direct.disconnect();
      }
    }

    const victim = keys[0]!;
    const killedAt = Date.now();
    const { promotedAfterMs, newMasterPort, killedPort } = await cluster.killMasterOf(victim);
    console.info(`master ${killedPort} killed; replica ${newMasterPort} promoted after ${promotedAfterMs} ms`);
    expect(killedPort).toBe(where[0]);
    expect(newMasterPort).not.toBe(killedPort);
    expect(promotedAfterMs).toBeLessThan(10_000);
    expect(await cluster.masterPortOf(victim)).toBe(newMasterPort);
    expect((await cluster.masterPorts()).sort()).toEqual([newMasterPort, where[1], where[2]].sort());
    await expect(cluster.nodes.find((node) => node.port === killedPort)!.role()).rejects.toThrow();

    // The client finds the new master by itself: no refresh, no reconnect from the test.
    await waitFor(async () => (await client.set(victim, 'after')) === 'OK', {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'the client to write the key again',
    });
    expect(await client.get(victim)).toBe('after');
    console.info(`client wrote the key again ${Date.now() - killedAt} ms after the kill`);
    // The other masters' keys were never affected.
    expect(await client.get(keys[1]!)).toBe(`before:${keys[1]}`);
    expect(await client.get(keys[2]!)).toBe(`before:${keys[2]}`);

    const restartedAt = Date.now();
    await cluster.restart(killedPort);
    console.info(`node ${killedPort} restarted and in sync as a replica after ${Date.now() - restartedAt} ms`);
    expect(await cluster.nodes.find((node) => node.port === killedPort)!.role()).toBe('replica');
    expect(await cluster.masterPortOf(victim)).toBe(newMasterPort);
    // It rejoined as the new master's replica and has its data.
    const rejoined = new Redis({ port: killedPort, host: '127.0.0.1', lazyConnect: true });
    try {
      const role = (await rejoined.call('ROLE')) as [string, string, number];
      expect([role[0], Number(role[2])]).toEqual(['slave', newMasterPort]);
      await rejoined.call('READONLY');
      expect(await rejoined.get(victim)).toBe('after');
    } finally {
      rejoined.disconnect();
    }
  }, 60_000);

  it('close() kills every node (twice is fine)', async () => {
    client.disconnect();
    await cluster.close();
    await cluster.close();
    for (const node of cluster.nodes) await expect(node.role()).rejects.toThrow();
  });

  it('rejects bad options naming the option, before starting anything', async () => {
    await expect(startRedisCluster({ masters: 2 })).rejects.toThrow(/masters must be an integer ≥ 3/);
    await expect(startRedisCluster({ replicasPerMaster: -1 })).rejects.toThrow(/replicasPerMaster/);
    await expect(startRedisCluster({ nodeTimeoutMs: 1.5 })).rejects.toThrow(/nodeTimeoutMs/);
  });
});
