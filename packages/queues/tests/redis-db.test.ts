import { ConfigError } from '@ceres/app-kit';
import { startRedisServer, type RedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQueuesConfig, QueueClient } from '../src';

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis.close();
});

/** Every key of every logical database of the server, by database. */
async function keysByDb(): Promise<Record<string, number>> {
  const inspect = new Redis(redis.url, { lazyConnect: true });
  await inspect.connect();
  const keyspace = await inspect.info('keyspace');
  await inspect.quit();
  return Object.fromEntries([...keyspace.matchAll(/^db(\d+):keys=(\d+)/gm)].map((match) => [match[1]!, Number(match[2])]));
}

describe('a REDIS_URL database the server does not have', () => {
  // redis-server has 16 databases (0-15) unless `databases` says otherwise.
  for (const db of [16, 99]) {
    it(`/${db}: the client refuses to start with an error naming REDIS_URL, and nothing is written to any database`, async () => {
      const config = loadQueuesConfig({ REDIS_URL: `${redis.url}/${db}`, REDIS_PREFIX: `db${db}:` });
      const client = new QueueClient({ config, onWarning: () => {} });
      try {
        const error = await client.ready().then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).variable).toBe('REDIS_URL');
        expect((error as Error).message).toMatch(new RegExp(`^REDIS_URL: .*database ${db}`));
        const enqueue = client.enqueue('slack/alert', { text: 'must not land in DB 0', dedupeKey: `db-${db}` });
        await expect(enqueue).rejects.toBeInstanceOf(ConfigError);
        expect(await keysByDb()).toEqual({});
      } finally {
        await client.close();
      }
    });
  }

  it('a database the server has still works', async () => {
    const client = new QueueClient({
      config: loadQueuesConfig({ REDIS_URL: `${redis.url}/15`, REDIS_PREFIX: 'db15:' }),
      onWarning: () => {},
    });
    try {
      await client.ready();
      await client.enqueue('slack/alert', { text: 'lands in DB 15', dedupeKey: 'db-15' });
      const keys = await keysByDb();
      expect(Object.keys(keys)).toEqual(['15']);
    } finally {
      await client.close();
    }
  });
});
