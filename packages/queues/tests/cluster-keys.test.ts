// On a Redis Cluster every key one script or pipeline uses together must be in one slot
// (CROSSSLOT otherwise). Slots computed as Redis does (CRC16 of the hash tag).
import keySlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { loadQueuesConfig, queuePrefix } from '../src/config';
import { QUEUE_NAMES } from '../src/registry';
import {
  claimKey,
  deadLetterDigestKeys,
  fairKey,
  jobTimingsKey,
  ledgerKeys,
  rateSlotKey,
  tenantHoldKey,
  tenantRateKey,
  waitEpisodeKey,
  waitWindowKey,
} from '../src/writer/ceres-keys';

const cluster = loadQueuesConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_PREFIX: 'ceres:' });
const single = loadQueuesConfig({ REDIS_PREFIX: 'ceres:' });

/** What `Queue.toKey` makes of a queue's prefix and name (BullMQ: `<prefix>:<name>:<type>`). */
const queueOf = (config: typeof cluster, name: string) => {
  const prefix = queuePrefix(config, name);
  return { name, toKey: (type: string) => `${prefix}:${name}:${type}` } as Parameters<typeof claimKey>[0];
};

describe('keys on a Redis Cluster', () => {
  it("a queue's BullMQ keys and every key of ours inside it share the queue's slot", () => {
    for (const name of QUEUE_NAMES) {
      const queue = queueOf(cluster, name);
      const keys = [
        queue.toKey('wait'),
        queue.toKey('meta'),
        queue.toKey(`${name}:some:job`),
        claimKey(queue, `${name}:some:job`),
        fairKey(queue),
        tenantHoldKey(queue, 'acme'),
        tenantRateKey(queue, 'acme'),
        rateSlotKey(queue, 'job-1'),
        waitEpisodeKey(queue),
        jobTimingsKey(queue),
        waitWindowKey(queue, 'minute', 123),
        ...deadLetterDigestKeys(cluster.redisPrefix, name, 123, true),
      ];
      expect(new Set(keys.map(keySlot)), name).toEqual(new Set([keySlot(`{${name}}`)]));
    }
  });

  it('the ledger keys share one slot; the queues spread over more than one', () => {
    const { batches, state, lock } = ledgerKeys(cluster.redisPrefix, true);
    expect(new Set([batches, state, lock].map(keySlot)).size).toBe(1);
    expect(new Set(QUEUE_NAMES.map((name) => keySlot(queueOf(cluster, name).toKey('wait')))).size).toBe(QUEUE_NAMES.length);
  });

  it('on one Redis the names are the ones an existing install has', () => {
    const queue = queueOf(single, 'email');
    expect(queue.toKey('wait')).toBe('ceres:queue:email:wait');
    expect(claimKey(queue, 'email:welcome:u1')).toBe('ceres:queue:email:ceres-claim:email:welcome:u1');
    expect(deadLetterDigestKeys('ceres:', 'email', 7)).toEqual([
      'ceres:dead-letters:digest:email:7:ranks',
      'ceres:dead-letters:digest:email:7:stats',
      'ceres:dead-letters:digest:email:7:reasons',
    ]);
    expect(ledgerKeys('ceres:')).toEqual({ batches: 'ceres:ledger:batches', state: 'ceres:ledger:state', lock: 'ceres:ledger:drain-lock' });
  });
});
