// Every connection follows a Sentinel failover, including one that is reconnecting when the
// sentinels announce the new master (ioredis' own failoverDetector ended such a connection for
// good: sentinel-switch.ts).
import { startRedisSentinelGroup, startTcpProxy, waitFor, type RedisSentinelGroup, type TcpProxy } from '@ceres/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRedisConnection, loadQueuesConfig } from '../src';

let group: RedisSentinelGroup;
let proxies: TcpProxy[];

beforeAll(async () => {
  group = await startRedisSentinelGroup({ replicas: 1, sentinels: 3 });
  // Slow sentinels: a reconnecting connection spends most of its time asking one for the master,
  // which is when the +switch-master announcement used to end it.
  proxies = await Promise.all(group.sentinelPorts.map((port) => startTcpProxy(port, { delayMs: 300 })));
}, 60_000);

afterAll(async () => {
  await Promise.all(proxies?.map((proxy) => proxy.close()) ?? []);
  await group?.close();
});

it('after a SIGKILL of the master, every connection is on the new master again and none is closed for good', async () => {
  const config = loadQueuesConfig({
    ...group.env,
    REDIS_SENTINELS: proxies.map((proxy) => `127.0.0.1:${proxy.port}`).join(','),
  });
  const clients: Redis[] = Array.from(
    { length: 30 },
    (_, i) => createRedisConnection(config, i % 2 ? 'producer' : 'worker', { onWarning: () => {} }) as Redis,
  );
  // A duplicate (BullMQ's blocking connection of a worker) follows too.
  clients.push(clients[0]!.duplicate().on('error', () => {}));
  try {
    await waitFor(() => clients.every((client) => client.status === 'ready'), { timeoutMs: 20_000, what: 'every connection ready' });
    const oldMaster = await group.masterPort();
    await group.nodes.find((node) => node.port === oldMaster)!.kill();
    await waitFor(async () => (await group.masterPort().catch(() => oldMaster)) !== oldMaster, {
      timeoutMs: 20_000,
      intervalMs: 50,
      what: 'the promotion',
    });
    const newMaster = await group.masterPort();
    const portOf = async (client: Redis) => Number(/tcp_port:(\d+)/.exec(await client.info('server'))?.[1]);
    await waitFor(
      async () =>
        clients.every((client) => client.status === 'ready') &&
        (await Promise.all(clients.map(portOf))).every((port) => port === newMaster),
      { timeoutMs: 20_000, intervalMs: 250, what: 'every connection on the new master' },
    ).catch(() => undefined);
    const statuses = clients.map((client) => client.status);
    expect(statuses.filter((status) => status === 'end')).toEqual([]);
    expect(await Promise.all(clients.map(portOf))).toEqual(clients.map(() => newMaster));
    // The announcement from each sentinel moved each connection once at most: they all answer.
    expect(await Promise.all(clients.map((client) => client.ping()))).toEqual(clients.map(() => 'PONG'));
  } finally {
    for (const client of clients) client.disconnect();
  }
}, 90_000);
