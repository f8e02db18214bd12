// REDIS_WAIT_REPLICAS=all costs no Redis command per enqueue beyond a fixed REDIS_WAIT_REPLICAS=1:
// the number of replicas is held in memory (packages/queues/src/replica-target.ts), and the adds of
// one event-loop turn share one WAIT either way. Counted with INFO commandstats on a real master
// with a real replica, as tests/redis-budget.test.ts counts (the replica's REPLCONF ACKs left out).
import { randomUUID } from 'node:crypto';
import { loadQueuesConfig, QueueClient } from '@ceres/queues';
import { startRedisServer, testEncryptionKey, waitFor, type RedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let master: RedisServer;
let replica: RedisServer;
let meter: Redis;
const producers = new Map<string, QueueClient>();

beforeAll(async () => {
  master = await startRedisServer();
  replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  meter = new Redis(master.url, { db: 5, maxRetriesPerRequest: null });
  await waitFor(async () => /slave0:.*state=online/.test(await meter.info('replication')), { what: 'the replica in sync' });
  for (const wait of ['1', 'all']) {
    const producer = new QueueClient({
      config: loadQueuesConfig({
        REDIS_URL: master.url,
        REDIS_PREFIX: `wait${wait}:`,
        REDIS_WAIT_REPLICAS: wait,
        JOBS_ENCRYPTION_KEYS: testEncryptionKey('w1'),
      }),
      onWarning: () => {},
    });
    await producer.ready();
    producers.set(wait, producer);
  }
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([...producers.values()].map((producer) => producer.close()));
  meter?.disconnect();
  await Promise.allSettled([replica?.close(), master?.close()]);
});

const payload = (id: string) => ({ userId: id, email: `${id}@example.com`, firstName: 'Ada' });

async function commandstats(): Promise<Map<string, number>> {
  const info = await meter.info('commandstats');
  return new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((match) => [match[1]!, Number(match[2])]));
}

/** The commands `enqueues` single enqueues made in one event-loop turn send, after a warm-up. */
async function measure(wait: string, enqueues: number): Promise<Record<string, number>> {
  const producer = producers.get(wait)!;
  // Warm-up: scripts loaded, the queue's meta written, the number of replicas read (all).
  await producer.enqueue('email/welcome', payload(`warm-${randomUUID()}`));
  await waitFor(async () => (await meter.exists(`wait${wait}:queue:email:meta`)) === 1, { what: 'the meta written' });
  const before = await commandstats();
  await Promise.all(Array.from({ length: enqueues }, () => producer.enqueue('email/welcome', payload(`u-${randomUUID()}`))));
  const after = await commandstats();
  const counts: Record<string, number> = {};
  for (const [command, calls] of after) {
    // The INFO that read `before`, and what the replica sends on its own.
    const delta = calls - (before.get(command) ?? 0) - (command === 'info' ? 1 : 0);
    if (delta !== 0 && command !== 'replconf') counts[command] = delta;
  }
  if (process.env.REDIS_BUDGET_REPORT) console.log(`REDIS_WAIT_REPLICAS=${wait}, ${enqueues} enqueue(s): ${JSON.stringify(counts)}`);
  return counts;
}

describe('REDIS_WAIT_REPLICAS=all on the hot path', () => {
  it('one enqueue: the same commands as with REDIS_WAIT_REPLICAS=1, one WAIT', async () => {
    const fixed = await measure('1', 1);
    const all = await measure('all', 1);
    expect(all).toEqual(fixed);
    expect(all.wait).toBe(1);
    expect(all.info).toBeUndefined();
  });

  it('20 enqueues in one event-loop turn: the same commands as with 1, one WAIT for all of them', async () => {
    const fixed = await measure('1', 20);
    const all = await measure('all', 20);
    expect(all).toEqual(fixed);
    expect(all.wait).toBe(1);
  });
});
