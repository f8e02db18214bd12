import { startRedisServer, waitFor, type RedisServer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRedisServer, createRedisConnection, loadQueuesConfig } from '../src';
import { compareVersions, redisOptions } from '../src/connection';

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis.close();
});

describe('connection presets', () => {
  it('make producers fail fast and workers wait', () => {
    const config = loadQueuesConfig({});
    expect(redisOptions(config, 'producer')).toMatchObject({ enableOfflineQueue: false, db: 5 });
    expect(redisOptions(config, 'worker')).toMatchObject({ maxRetriesPerRequest: null, enableOfflineQueue: true, db: 5 });
  });

  it('compares versions numerically', () => {
    expect(compareVersions('6.2.0', '6.2.0')).toBe(0);
    expect(compareVersions('6.10.0', '6.2.0')).toBe(1);
    expect(compareVersions('5.0.14', '6.2.0')).toBe(-1);
  });
});

describe('server check on first connect', () => {
  it('is quiet for a suitable server and warns once the policy can evict keys', async () => {
    const warnings: string[] = [];
    const config = loadQueuesConfig({ REDIS_URL: redis.url });
    const client = createRedisConnection(config, 'producer', { onWarning: (message) => warnings.push(message) });
    try {
      await waitFor(() => client.status === 'ready');
      const healthy = await checkRedisServer(client);
      expect(healthy.problems).toEqual([]);
      expect(healthy.maxmemoryPolicy).toBe('noeviction');
      await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const report = await checkRedisServer(client);
      expect(report.problems).toEqual([expect.stringMatching(/maxmemory-policy is "allkeys-lru".*noeviction/)]);

      const second = createRedisConnection(config, 'worker', { onWarning: (message) => warnings.push(message) });
      await waitFor(() => warnings.length > 0, { what: 'the warning of the first connect' });
      expect(warnings[0]).toMatch(/allkeys-lru/);
      second.disconnect();
    } finally {
      await client.config('SET', 'maxmemory-policy', 'noeviction');
      client.disconnect();
    }
  });
});
