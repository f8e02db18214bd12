// Issue 24 item 18: whether failovers are followed shows in /health and in the log. Real sentinels
// with ACL users; one user may not subscribe (no channel permission), a common ACL slip.
import { startRedisSentinelGroup, waitFor, type RedisSentinelGroup } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApi } from './helpers';

let group: RedisSentinelGroup;
const PASSWORD = 'sentinel-acl-password-0123456789';

beforeAll(async () => {
  group = await startRedisSentinelGroup({ replicas: 0, sentinels: 1 });
  const sentinel = new Redis({ port: group.sentinelPorts[0], host: '127.0.0.1', maxRetriesPerRequest: 1 }).on('error', () => {});
  await sentinel.call('ACL', 'SETUSER', 'ceres-api', 'on', `>${PASSWORD}`, 'allchannels', '+@all');
  await sentinel.call('ACL', 'SETUSER', 'ceres-nosub', 'on', `>${PASSWORD}`, 'resetchannels', '+@all');
  await sentinel.call('ACL', 'SETUSER', 'default', 'off');
  sentinel.disconnect();
}, 60_000);

afterAll(async () => {
  await group?.close();
});

const envFor = (user: string) => ({ ...group.env, REDIS_SENTINEL_USERNAME: user, REDIS_SENTINEL_PASSWORD: PASSWORD, LOG_LEVEL: 'info' });

it('GET /health says the API watches the sentinel, and the log says so once', async () => {
  const api = await startApi(group.nodes[0]!, envFor('ceres-api'));
  try {
    await waitFor(async () => (await api.app.inject({ method: 'GET', url: '/health' })).json().sentinel === 'watching', {
      timeoutMs: 5000,
      what: 'watching',
    }).catch(() => undefined);
    const health = await api.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok', redis: 'up', sentinel: 'watching' });
    expect(api.logs.filter((line) => line.msg === 'following failovers: subscribed to +switch-master')).toEqual([
      expect.objectContaining({ level: 30, sentinel: `127.0.0.1:${group.sentinelPorts[0]}` }),
    ]);
  } finally {
    await api.close();
  }
}, 20_000);

it('GET /health says the API does not watch a sentinel that refuses the subscription, and the error is logged once', async () => {
  const api = await startApi(group.nodes[0]!, envFor('ceres-nosub'));
  try {
    await waitFor(async () => (await api.app.inject({ method: 'GET', url: '/health' })).json().sentinel === 'not-watching', {
      timeoutMs: 5000,
      what: 'not watching',
    }).catch(() => undefined);
    // Redis itself is reachable (the user may ask for the master): the API still enqueues.
    const health = await api.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok', redis: 'up', sentinel: 'not-watching' });
    const errors = api.logs.filter((line) => String(line.msg).startsWith('not hearing failovers from this sentinel'));
    expect(errors).toEqual([
      expect.objectContaining({ level: 50, sentinel: `127.0.0.1:${group.sentinelPorts[0]}`, error: expect.stringMatching(/NOPERM/) }),
    ]);
  } finally {
    await api.close();
  }
}, 20_000);
