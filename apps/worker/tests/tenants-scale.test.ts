// Issue 26, item 7: 200 tenants with jobs waiting cost a worker process no Redis connection of
// their own, and each tenant's first job starts before any tenant's third. A Redis of this file's
// own: every client on it is counted.
import { registry } from '@ceres/queues';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { spawnWorker, waitForIdle, workerEnv, useTestBed } from './helpers/harness';

const bed = useTestBed({ ownServers: true });

const welcome = (tenant: string, n: number) => ({ userId: `${tenant}-${n}`, email: `${tenant}-${n}@example.com`, firstName: 'S' });

describe('200 tenants', () => {
  it('the worker holds as many Redis connections as with one tenant; every first job starts before any third', async () => {
    const env = workerEnv(bed.peers);
    const queues = bed.producer(env);
    await queues.ready();
    const admin = new Redis(bed.peers.redis.url);
    const clients = async () =>
      String(await admin.client('LIST'))
        .trim()
        .split('\n').length;
    const withoutWorker = await clients();
    const worker = spawnWorker(env);
    bed.children.push(worker);
    await worker.ready;
    const email = queues.getQueue('email');
    const slack = queues.getQueue('slack');

    // One tenant: a few jobs in two queues.
    await queues.enqueueBulk(
      'email/welcome',
      [0, 1, 2].map((n) => welcome('default', n)),
    );
    await queues.enqueue('slack/alert', { text: 'one tenant', severity: 'info' });
    await waitForIdle(email);
    await waitForIdle(slack);
    const oneTenant = (await clients()) - withoutWorker;

    // 200 tenants, three jobs each in the email queue and one alert each, all waiting before the worker takes any.
    const tenants = Array.from({ length: 200 }, (_, i) => `town-${i}`);
    await email.pause();
    await slack.pause();
    for (const tenant of tenants) {
      await queues.enqueueBulk(
        'email/welcome',
        [0, 1, 2].map((n) => welcome(tenant, n)),
        { tenant },
      );
      await queues.enqueue('slack/alert', { text: `alert of ${tenant}`, severity: 'info' }, { tenant });
    }
    await email.resume();
    await slack.resume();
    await waitForIdle(email, { timeoutMs: 60_000 });
    await waitForIdle(slack, { timeoutMs: 60_000 });
    const manyTenants = (await clients()) - withoutWorker;
    console.info(`worker Redis connections: ${oneTenant} with one tenant, ${manyTenants} with 200`);
    expect(manyTenants).toBe(oneTenant);

    // The order the worker started them in (processedOn, then BullMQ's own order among equals).
    const done = await email.getCompleted(0, -1);
    const started = done
      .filter((job) => job.id!.startsWith('town-'))
      .map((job) => ({ at: job.processedOn!, rank: Number(job.id!.split(':').at(-1)!.split('-').at(-1)) }));
    expect(started).toHaveLength(600);
    const lastFirst = Math.max(...started.filter((job) => job.rank === 0).map((job) => job.at));
    const firstThird = Math.min(...started.filter((job) => job.rank === 2).map((job) => job.at));
    console.info(
      `last first job started at +${lastFirst - Math.min(...started.map((job) => job.at))} ms, first third at +${firstThird - Math.min(...started.map((job) => job.at))} ms (concurrency ${registry.email.concurrency})`,
    );
    expect(lastFirst).toBeLessThanOrEqual(firstThird);
    admin.disconnect();
  }, 120_000);
});
