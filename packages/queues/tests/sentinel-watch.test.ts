// Issue 24 item 18: the +switch-master subscriber (sentinel-switch.ts) connected without a user,
// so against ACL sentinels it never subscribed, and its errors were swallowed: following a
// failover stopped without a word. Real sentinels with ACL users.
import { startRedisSentinelGroup, waitFor, type RedisSentinelGroup } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRedisConnection, loadQueuesConfig, onSentinelWatch, sentinelWatching, type SentinelWatchEvent } from '../src';

let group: RedisSentinelGroup;
const USER = 'ceres-watch';
const PASSWORD = 'sentinel-acl-password-0123456789';

const admin = (port: number, options: { username?: string; password?: string } = {}) =>
  new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, ...options }).on('error', () => {});

beforeAll(async () => {
  group = await startRedisSentinelGroup({ replicas: 0, sentinels: 1 });
  // An ACL sentinel: a named user; the default user (no name) cannot log in.
  const sentinel = admin(group.sentinelPorts[0]!);
  await sentinel.call('ACL', 'SETUSER', USER, 'on', `>${PASSWORD}`, 'allchannels', '+@all');
  await sentinel.call('ACL', 'SETUSER', 'default', 'off');
  sentinel.disconnect();
}, 60_000);

afterAll(async () => {
  await group?.close();
});

/** Logins the sentinel refused so far: the counts of the `auth` entries of its ACL LOG. */
async function refusedLogins(): Promise<number> {
  const sentinel = admin(group.sentinelPorts[0]!, { username: USER, password: PASSWORD });
  try {
    const entries = (await sentinel.call('ACL', 'LOG', '128')) as unknown[][];
    let refused = 0;
    for (const entry of entries) {
      const fields = new Map<string, unknown>();
      for (let i = 0; i < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
      if (fields.get('reason') === 'auth') refused += Number(fields.get('count'));
    }
    return refused;
  } finally {
    sentinel.disconnect();
  }
}

/** The sentinel's clients named `ceres-switch-watch`: the user each logged in as and its subscriptions. */
async function watchClients(): Promise<Array<{ user: string; sub: number }>> {
  const sentinel = admin(group.sentinelPorts[0]!, { username: USER, password: PASSWORD });
  try {
    const list = (await sentinel.call('CLIENT', 'LIST')) as string;
    return list
      .split('\n')
      .filter((line) => line.includes('name=ceres-switch-watch'))
      .map((line) => ({ user: /\buser=(\S+)/.exec(line)?.[1] ?? '', sub: Number(/\bsub=(\d+)/.exec(line)?.[1] ?? 0) }));
  } finally {
    sentinel.disconnect();
  }
}

it('logs in to ACL sentinels with REDIS_SENTINEL_USERNAME, subscribes to +switch-master, and says it watches', async () => {
  const events: SentinelWatchEvent[] = [];
  const stop = onSentinelWatch((event) => events.push(event));
  const config = loadQueuesConfig({ ...group.env, REDIS_SENTINEL_USERNAME: USER, REDIS_SENTINEL_PASSWORD: PASSWORD });
  const client = createRedisConnection(config, 'producer', { onWarning: () => {} });
  client.on('error', () => {});
  try {
    await waitFor(() => client.status === 'ready', { timeoutMs: 5000, what: 'the connection through the ACL sentinel' });
    await waitFor(async () => (await watchClients()).some((watcher) => watcher.sub === 1), {
      timeoutMs: 5000,
      what: 'the +switch-master subscription',
    }).catch(() => undefined);
    expect(await watchClients()).toEqual([{ user: USER, sub: 1 }]);
    expect(sentinelWatching(config.sentinel!)).toBe(true);
    expect(events).toContainEqual({ sentinel: `127.0.0.1:${group.sentinelPorts[0]}`, watching: true });
  } finally {
    stop();
    client.disconnect();
  }
  // The last connection gone, its watcher is too (and with it the state it reported).
  await waitFor(() => sentinelWatching(config.sentinel!) === undefined, { timeoutMs: 2000, what: 'the watcher to close' });
}, 20_000);

it('reports a sentinel it cannot watch (wrong password) once, with the error, and says it does not watch', async () => {
  const events: SentinelWatchEvent[] = [];
  const stop = onSentinelWatch((event) => events.push(event));
  const config = loadQueuesConfig({ ...group.env, REDIS_SENTINEL_USERNAME: USER, REDIS_SENTINEL_PASSWORD: 'not-the-password-0123456789' });
  const client = createRedisConnection(config, 'producer', { onWarning: () => {} });
  client.on('error', () => {});
  try {
    await waitFor(() => events.some((event) => !event.watching), { timeoutMs: 5000, what: 'the watch error' }).catch(() => undefined);
    // Retries go on (every 2 s at most); the same failure is reported once, not per attempt. The
    // sentinel counts the refused logins, the watcher's and the producer's connection's (both retry
    // on the same backoff): 6 more span several retries of the watcher.
    const refused = await refusedLogins();
    await waitFor(async () => (await refusedLogins()) >= refused + 6, { timeoutMs: 15_000, intervalMs: 100, what: 'more refused logins' });
    expect(events).toEqual([
      {
        sentinel: `127.0.0.1:${group.sentinelPorts[0]}`,
        watching: false,
        error: expect.stringMatching(/WRONGPASS|invalid username-password/i),
      },
    ]);
    expect(sentinelWatching(config.sentinel!)).toBe(false);
  } finally {
    stop();
    client.disconnect();
  }
}, 20_000);
