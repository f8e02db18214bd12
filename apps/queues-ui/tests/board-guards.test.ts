// Bull Board actions that went around the platform's rules (issue 24): "Add job" stored personal
// fields in clear (item 21); obliterating the maintenance queue removed its crons until a worker
// restarted (item 22). Real Redis, Bull Board's own API as the page calls it.
import { registry, type JobDefinition } from '@ceres/queues';
import { sharedRedis, type RedisPeer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_AUTH, startStack, type Stack } from './helpers/stack';

let redis: RedisPeer;
let stack: Stack;

beforeAll(async () => {
  redis = sharedRedis();
  stack = await startStack(redis);
});

afterAll(async () => {
  await stack?.close();
});

/** Every value stored under this stack's prefix, as one text (hashes, lists, sets and strings). */
async function everythingStored(): Promise<string> {
  const raw = new Redis(redis.url, { db: stack.config.redisDb });
  try {
    const keys = await raw.keys(`${stack.config.redisPrefix}*`);
    const parts: string[] = [];
    for (const key of keys) {
      const type = await raw.type(key);
      if (type === 'hash') parts.push(JSON.stringify(await raw.hgetall(key)));
      else if (type === 'string') parts.push(String(await raw.get(key)));
      else if (type === 'list') parts.push(JSON.stringify(await raw.lrange(key, 0, -1)));
      else if (type === 'zset') parts.push(JSON.stringify(await raw.zrange(key, 0, -1)));
      else if (type === 'set') parts.push(JSON.stringify(await raw.smembers(key)));
    }
    return parts.join('\n');
  } finally {
    raw.disconnect();
  }
}

const board = (method: 'PUT' | 'POST', url: string, payload?: object) =>
  stack.app.inject({
    method,
    url: `/ui/api/queues/${url}`,
    headers: { ...GOOD_AUTH, 'content-type': 'application/json' },
    payload: payload ?? {},
  });

describe('Bull Board "Add job"', () => {
  it.each([
    ['email', 'welcome', { userId: 'board-1', email: 'board.person@example.org', firstName: 'Boardname' }],
    ['email', 'verify', { userId: 'board-2', email: 'board.person@example.org', firstName: 'Boardname', token: 'board-token-123456' }],
    // A name that is no job type, with a personal field of the queue: refused too.
    ['email', 'anything', { email: 'board.person@example.org' }],
  ])('is refused for %s/%s (personal fields), with a message, and nothing is stored', async (queue, name, data) => {
    const response = await board('POST', `${queue}/add`, { name, data, options: {} });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ code: 'ADD_JOB_DISABLED', message: expect.stringMatching(/personal fields.*encrypted.*API/) });
    const stored = await everythingStored();
    expect(stored).not.toContain('board.person@example.org');
    expect(stored).not.toContain('Boardname');
    expect(await stack.client.getQueue('email').getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBe(0);
  });

  it('still adds a job of a type without personal fields (slack/alert)', async () => {
    const response = await board('POST', 'slack/add', { name: 'alert', data: { text: 'from the board' }, options: {} });
    expect(response.statusCode).toBe(200);
    expect(await stack.client.getQueue('slack').getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBe(1);
  });
});

describe('Bull Board "Obliterate"', () => {
  const crons = Object.entries(registry.maintenance.jobs as Record<string, JobDefinition>).filter(([, definition]) => definition.schedule);

  it('is refused for the maintenance queue, whose cron schedulers it would remove; they stay', async () => {
    expect(crons.length).toBe(5);
    const maintenance = stack.client.getQueue('maintenance');
    for (const [name, definition] of crons)
      await maintenance.upsertJobScheduler(name, { pattern: definition.schedule!.pattern, tz: 'UTC' }, { name, data: {} });
    expect(await maintenance.getJobSchedulersCount()).toBe(crons.length);
    // Bull Board 9 obliterates only a paused queue.
    expect((await board('PUT', 'maintenance/pause')).statusCode).toBe(200);
    const response = await board('PUT', 'maintenance/obliterate', { force: true });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ code: 'OBLITERATE_DISABLED', message: expect.stringMatching(/cron/) });
    expect(await maintenance.getJobSchedulersCount()).toBe(crons.length);
    expect((await board('PUT', 'maintenance/resume')).statusCode).toBe(200);
  });

  it('still obliterates a paused queue without crons (slack)', async () => {
    const slack = stack.client.getQueue('slack');
    await slack.add('alert', { text: 'to be obliterated' });
    expect((await board('PUT', 'slack/pause')).statusCode).toBe(200);
    expect((await board('PUT', 'slack/obliterate', { force: true })).statusCode).toBe(200);
    expect(await slack.getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBe(0);
  });
});
