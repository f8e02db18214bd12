import { describe, expect, it } from 'vitest';
import { ConfigError, loadQueuesConfig } from '../src';

describe('loadQueuesConfig', () => {
  it('defaults to local Redis, DB 5 and the ceres: prefix', () => {
    expect(loadQueuesConfig({})).toEqual({
      redisUrl: 'redis://127.0.0.1:6379',
      redisDb: 5,
      redisPrefix: 'ceres:',
      bullPrefix: 'ceres:queue',
      commandTimeoutMs: 5000,
      waitReplicas: 0,
    });
  });

  it('reads REDIS_COMMAND_TIMEOUT_MS', () => {
    expect(loadQueuesConfig({ REDIS_COMMAND_TIMEOUT_MS: '750' }).commandTimeoutMs).toBe(750);
  });

  it('takes the database from the URL path when there is one', () => {
    const config = loadQueuesConfig({ REDIS_URL: 'redis://:secret@redis.internal:6380/2', REDIS_PREFIX: 'other:' });
    expect(config.redisDb).toBe(2);
    expect(config.redisUrl).toBe('redis://:secret@redis.internal:6380');
    expect(config.bullPrefix).toBe('other:queue');
  });

  it.each([
    ['REDIS_URL', { REDIS_URL: 'not a url' }],
    ['REDIS_URL', { REDIS_URL: 'http://127.0.0.1:6379' }],
    ['REDIS_URL', { REDIS_URL: 'redis://127.0.0.1:6379/five' }],
    ['REDIS_PREFIX', { REDIS_PREFIX: 'no-colon' }],
    ['REDIS_PREFIX', { REDIS_PREFIX: 'with space:' }],
    ['REDIS_COMMAND_TIMEOUT_MS', { REDIS_COMMAND_TIMEOUT_MS: 'soon' }],
    ['REDIS_COMMAND_TIMEOUT_MS', { REDIS_COMMAND_TIMEOUT_MS: '50' }],
    ['REDIS_COMMAND_TIMEOUT_MS', { REDIS_COMMAND_TIMEOUT_MS: '1.5' }],
    ['REDIS_WAIT_REPLICAS', { REDIS_WAIT_REPLICAS: 'two' }],
    ['REDIS_WAIT_REPLICAS', { REDIS_WAIT_REPLICAS: '-1' }],
    ['REDIS_WAIT_REPLICAS', { REDIS_WAIT_REPLICAS: '17' }],
    ['REDIS_WAIT_REPLICAS', { REDIS_WAIT_REPLICAS: 'ALL' }],
    ['REDIS_WAIT_REPLICAS', { REDIS_WAIT_REPLICAS: 'all,1' }],
    ['REDIS_SENTINELS', { REDIS_SENTINELS: 'sentinel-1', REDIS_SENTINEL_NAME: 'ceres' }],
    ['REDIS_SENTINELS', { REDIS_SENTINELS: '10.0.0.1:26379,10.0.0.2:99999', REDIS_SENTINEL_NAME: 'ceres' }],
    ['REDIS_SENTINELS', { REDIS_SENTINEL_NAME: 'ceres' }],
    ['REDIS_SENTINEL_NAME', { REDIS_SENTINELS: '10.0.0.1:26379' }],
  ])('names %s when it is malformed', (variable, env) => {
    let error: unknown;
    try {
      loadQueuesConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message).toMatch(new RegExp(`^${variable}: `));
  });

  it('takes REDIS_WAIT_REPLICAS as a number of replicas or "all", and says so when it is neither', () => {
    expect(loadQueuesConfig({ REDIS_WAIT_REPLICAS: 'all' }).waitReplicas).toBe('all');
    expect(loadQueuesConfig({ REDIS_WAIT_REPLICAS: ' all ' }).waitReplicas).toBe('all');
    expect(loadQueuesConfig({ REDIS_WAIT_REPLICAS: '16' }).waitReplicas).toBe(16);
    expect(loadQueuesConfig({ REDIS_WAIT_REPLICAS: '' }).waitReplicas).toBe(0);
    expect(() => loadQueuesConfig({ REDIS_WAIT_REPLICAS: 'every' })).toThrow(
      'REDIS_WAIT_REPLICAS: must be an integer from 0 to 16, or "all" (got "every")',
    );
  });

  it('does not echo a password in its error', () => {
    expect(() => loadQueuesConfig({ REDIS_URL: 'redis://:hunter2@bad host' })).toThrow(/^REDIS_URL/);
    expect(() => loadQueuesConfig({ REDIS_URL: 'redis://:hunter2@bad host' })).not.toThrow(/hunter2/);
  });

  it('reads the sentinels, their master name and password, and the replicas to wait for', () => {
    const config = loadQueuesConfig({
      REDIS_URL: 'redis://:secret@ignored-host:1/7',
      REDIS_SENTINELS: '10.0.0.1:26379, sentinel-2.internal:26380,[::1]:26381',
      REDIS_SENTINEL_NAME: 'ceres',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_WAIT_REPLICAS: '1',
    });
    expect(config.sentinel).toEqual({
      hosts: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-2.internal', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'ceres',
      password: 'sentinel-secret',
    });
    // The database still comes from REDIS_URL's path.
    expect(config.redisDb).toBe(7);
    expect(config.waitReplicas).toBe(1);
    expect(loadQueuesConfig({}).sentinel).toBeUndefined();
    expect(loadQueuesConfig({}).waitReplicas).toBe(0);
  });
});
