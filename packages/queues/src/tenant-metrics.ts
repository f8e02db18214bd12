import type { Queue } from 'bullmq';
import { byQueue } from './by-queue';
import type { RedisClient } from './connection';

/*
 * Jobs completed and failed for good per tenant (issue 26, item 6). BullMQ's metrics count per
 * queue only; the worker counts per tenant in memory and adds its counts to one Redis hash per
 * queue and outcome (field: tenant id, value: jobs since the hash began) every few seconds, so the
 * job's own path sends nothing more to Redis. queues-ui reads the hashes at scrape time.
 */

export type TenantOutcome = 'completed' | 'failed';

interface PendingCount {
  queue: Queue;
  outcome: TenantOutcome;
  tenant: string;
  count: number;
}

/** The hash of one queue and outcome: tenant id → jobs. In the queue's namespace (its hash tag). */
export function tenantCountKey(queue: Pick<Queue, 'toKey'>, outcome: TenantOutcome): string {
  return queue.toKey(`ceres-tenant-${outcome}`);
}

/**
 * A worker process's counts not yet added to Redis: at most one pipelined HINCRBY per queue,
 * outcome and tenant per {@link flush}. A process killed before its flush loses those counts (as
 * a counter that missed an increment); a failed flush keeps them for the next one.
 */
export class TenantCounts {
  private pending = new Map<string, PendingCount>();

  add(queue: Queue, outcome: TenantOutcome, tenant: string, count = 1): void {
    const key = `${queue.name}\n${outcome}\n${tenant}`;
    const entry = this.pending.get(key);
    if (entry) entry.count += count;
    else this.pending.set(key, { queue, outcome, tenant, count });
  }

  get size(): number {
    return this.pending.size;
  }

  async flush(redis: RedisClient): Promise<void> {
    if (this.pending.size === 0) return;
    const entries = [...this.pending.values()];
    this.pending = new Map();
    await Promise.all(
      byQueue(entries, (entry) => entry.queue).map(async (group) => {
        const pipeline = redis.pipeline();
        for (const { queue, outcome, tenant, count } of group) pipeline.hincrby(tenantCountKey(queue, outcome), tenant, count);
        const answers = (await pipeline.exec().catch(() => null)) ?? group.map(() => [new Error('not sent')]);
        group.forEach((entry, index) => {
          if (answers[index]?.[0]) this.add(entry.queue, entry.outcome, entry.tenant, entry.count);
        });
      }),
    );
  }
}

/** The per-tenant counts of one queue and outcome (tenant id → jobs). */
export async function readTenantCounts(
  redis: RedisClient,
  queue: Pick<Queue, 'toKey'>,
  outcome: TenantOutcome,
): Promise<Map<string, number>> {
  const hash = await redis.hgetall(tenantCountKey(queue, outcome));
  return new Map(Object.entries(hash).map(([tenant, count]) => [tenant, Number(count)]));
}
