import type { Queue } from 'bullmq';
import type { RedisClient } from '../connection';
import { DEFAULT_TENANT } from '@ceres/app-kit';
import { tenantOfData } from '../tenant';

/**
 * The tenant a Redis job id names, or undefined when the id does not tell: a deterministic id is
 * scoped (`acme@email:verify:user-123`; `default`'s has no prefix, see `scopedJobId`), an id
 * BullMQ numbered (no `:`) is not, and only the job's data (`$tenant`) tells.
 */
export function tenantOfJobId(id: string): string | undefined {
  const colon = id.indexOf(':');
  if (colon < 0) return undefined;
  const at = id.indexOf('@');
  return at >= 0 && at < colon ? id.slice(0, at) : DEFAULT_TENANT;
}

/**
 * The tenant of each job id of `queue`, in order: from the id when it tells, else from the job's
 * stored data (one pipelined HGET per such id); undefined for a job gone meanwhile.
 */
export async function tenantsOfJobIds(redis: RedisClient, queue: Queue, ids: readonly string[]): Promise<Array<string | undefined>> {
  const tenants: Array<string | undefined> = ids.map(tenantOfJobId);
  const unknown = ids.flatMap((id, index) => (tenants[index] === undefined ? [index] : []));
  if (unknown.length === 0) return tenants;
  const pipeline = redis.pipeline();
  for (const index of unknown) pipeline.hget(queue.toKey(ids[index]!), 'data');
  const answers = (await pipeline.exec()) ?? [];
  unknown.forEach((index, n) => {
    const [error, data] = answers[n] ?? [null, null];
    if (error || typeof data !== 'string') return;
    try {
      tenants[index] = tenantOfData(JSON.parse(data));
    } catch {
      tenants[index] = DEFAULT_TENANT;
    }
  });
  return tenants;
}

/**
 * The ids of one state of `queue`, newest first, a page at a time by position (BullMQ's
 * `getRanges`): memory stays at one page. Positions shift while workers move jobs, so on a busy
 * queue a job may be seen twice or missed: the figures are a snapshot taken page by page.
 */
export async function* stateIdPages(queue: Queue, state: string, page: number): AsyncGenerator<string[]> {
  for (let start = 0; ; start += page) {
    const ids = await queue.getRanges([state as never], start, start + page - 1, false);
    if (ids.length > 0) yield ids;
    if (ids.length < page) return;
  }
}
