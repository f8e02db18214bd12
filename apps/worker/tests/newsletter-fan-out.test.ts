import { createDb, type Db } from '@ceres/db';
import { QueueClient, loadQueuesConfig } from '@ceres/queues';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/deps/logger';
import { fanOut } from '../src/processors/newsletter/fan-out';
import { finish } from '../src/processors/newsletter/finish';
import { startPeers, workerEnv, type Peers } from './helpers/harness';

// The fan-out and the close on their own (no worker consumes here): what they enqueue, and when
// they stop. The whole lane with worker processes is tests/newsletter.test.ts.
let peers: Peers;
let db: Db;
let queues: QueueClient;
const ctx = { logger: createLogger('silent'), signal: new AbortController().signal, tenant: 'default' };
const jobOf = <T>(data: T) => ({ data, updateProgress: async () => {} }) as unknown as Parameters<typeof fanOut>[0] & { data: T };

beforeAll(async () => {
  peers = await startPeers();
  db = createDb(peers.postgres.url);
  queues = new QueueClient({ config: loadQueuesConfig(workerEnv(peers)), allowReservedKeys: true, onWarning: () => {} });
}, 60_000);

afterAll(async () => {
  await queues?.close();
  await db?.close();
  await peers?.close();
});

async function started(count: number): Promise<string> {
  const id = await db.newsletter.createCampaign({ subject: 'S', text: 'T', html: null });
  const recipients = Array.from({ length: count }, (_, i) => ({ userId: `u-${i}`, email: `u${i}@example.com`, firstName: 'N' }));
  for (let i = 0; i < count; i += 1000) await db.newsletter.addRecipients(id, recipients.slice(i, i + 1000));
  await db.newsletter.start(id);
  return id;
}

const sendsOf = async (id: string) =>
  (await queues.getQueue('newsletter').getJobs(['prioritized', 'wait'])).filter((job) => job.data.campaignId === id);

describe('newsletter/fan-out', () => {
  it('adds one prioritized send per recipient with its deterministic id; run again, it adds none', async () => {
    const id = await started(1200);
    expect(await fanOut(jobOf({ campaignId: id }), { db, queues }, ctx)).toEqual({ enqueued: 1200, duplicates: 0 });
    const sends = await sendsOf(id);
    expect(sends).toHaveLength(1200);
    expect(sends.map((job) => job.id)).toContain(`newsletter:send:${id}.u-7`);
    expect(sends[0]!.data).toEqual({ campaignId: id, userId: expect.any(String) });
    expect(await fanOut(jobOf({ campaignId: id }), { db, queues }, ctx)).toEqual({ enqueued: 0, duplicates: 1200 });
    expect(await sendsOf(id)).toHaveLength(1200);
  });

  it("a tenant's campaign is sent as the tenant's: each send carries its $tenant under a scoped id (issue 26)", async () => {
    await db.tenants.add('fan-a', { name: 'A' });
    const id = await db.newsletter.createCampaign({ subject: 'S', text: 'T', html: null }, { tenant: 'fan-a' });
    await db.newsletter.addRecipients(id, [{ userId: 'u-1', email: 'u1@example.com', firstName: 'N' }], { tenant: 'fan-a' });
    await db.newsletter.start(id, { tenant: 'fan-a' });
    // The fan-out job the API enqueued for a's token runs with ctx.tenant 'fan-a'.
    expect(await fanOut(jobOf({ campaignId: id, $tenant: 'fan-a' }), { db, queues }, { ...ctx, tenant: 'fan-a' })).toEqual({
      enqueued: 1,
      duplicates: 0,
    });
    const [send] = await sendsOf(id);
    expect(send!.id).toBe(`fan-a@newsletter:send:${id}.u-1`);
    expect(send!.data).toEqual({ campaignId: id, userId: 'u-1', $tenant: 'fan-a' });
  });

  it('stops at a cancel, removing the page it was adding', async () => {
    const id = await started(1200);
    const cancelling = {
      db,
      queues: {
        enqueue: queues.enqueue.bind(queues),
        getQueue: queues.getQueue.bind(queues),
        enqueueBulk: (async (...args: Parameters<QueueClient['enqueueBulk']>) => {
          const added = await queues.enqueueBulk(...args);
          await db.newsletter.cancel(id);
          return added;
        }) as QueueClient['enqueueBulk'],
      },
    };
    expect(await fanOut(jobOf({ campaignId: id }), cancelling, ctx)).toEqual({ enqueued: 500, duplicates: 0, stopped: 'cancelled' });
    expect(await sendsOf(id)).toHaveLength(0);
  });

  it('closes and announces a campaign without recipients once; finish after that announces nothing', async () => {
    const id = await started(0);
    await fanOut(jobOf({ campaignId: id }), { db, queues }, ctx);
    expect((await db.newsletter.getCampaign(id))?.state).toBe('done');
    const alert = await queues.getQueue('slack').getJob(`slack:alert:newsletter-${id}`);
    expect(alert?.data.text).toMatch(/is done: 0 recipients, 0 sent, 0 failed, 0 unsubscribed\.$/);
    expect(await finish(jobOf({ campaignId: id }), { db, queues }, ctx)).toEqual({ announced: false });
  });

  it("the platform cannot take a summary's dedupe key first", async () => {
    const platform = new QueueClient({ config: queues.config, onWarning: () => {} });
    try {
      await expect(
        platform.enqueue('slack/alert', { text: 'x', dedupeKey: 'newsletter-0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b' }),
      ).rejects.toThrow(/dedupeKey must not start with "newsletter-"/);
    } finally {
      await platform.close();
    }
  });
});
