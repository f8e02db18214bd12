import { sharedRedis, TEST_ENCRYPTION_KEYS, waitFor } from '@ceres/testing';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { loadQueuesConfig, QueueAdmin, QueueClient, WAIT_SAMPLE, type WaitObservation } from '../src';

/**
 * The shared read of the oldest due job (admin/queue-wait.ts) and the once-only episode steps
 * (CeresStore.observeWait), against a real Redis; times are given as `now`, so nothing sleeps.
 */
const clients: QueueClient[] = [];
const connections: Redis[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  for (const connection of connections.splice(0)) connection.disconnect();
});

async function client() {
  const peer = sharedRedis();
  const made = new QueueClient({
    config: loadQueuesConfig({ ...peer.env, JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS }),
    connectionName: 'queue-wait-test',
    allowReservedKeys: true,
  });
  clients.push(made);
  await made.ready();
  return { client: made, admin: new QueueAdmin(made), peer };
}

const alert = (text: string) => ({ text, severity: 'warning' as const });

describe('QueueAdmin.wait', () => {
  it('finds the oldest due job among the waiting, prioritized and delayed-past-due jobs', async () => {
    const { client: producer, admin } = await client();
    const empty = await admin.wait('slack');
    expect(empty).toMatchObject({ oldestWaitingMs: 0, due: 0, paused: false, limitedMs: 0, active: 0, newestStartAt: null });

    const before = Date.now();
    await producer.enqueue('slack/alert', alert('one'));
    await producer.enqueue('slack/alert', alert('two'), { delay: 2000 });
    const after = Date.now();
    // Now: the delayed job is not due and not counted.
    const now = await admin.wait('slack', after);
    expect(now.due).toBe(1);
    expect(now.oldestWaitingMs).toBeLessThanOrEqual(after - before);
    // Ten seconds on: the delayed job is due (no worker promoted it) and the waiting one is the oldest.
    const later = await admin.wait('slack', after + 10_000);
    expect(later.due).toBe(2);
    expect(later.oldestWaitingMs).toBeGreaterThanOrEqual(10_000);
    expect(later.oldestWaitingMs).toBeLessThanOrEqual(10_000 + (after - before));
  });

  it('finds the oldest of a backlog longer than the sample: the wait list is read from its oldest end', async () => {
    const { client: producer, admin } = await client();
    await producer.enqueue('slack/alert', alert('first'));
    const first = Date.now();
    // The others are added at least 50 ms later: the first one is older by that.
    await waitFor(() => Date.now() >= first + 50, { intervalMs: 10, what: '50 ms to pass' });
    for (let n = 0; n < WAIT_SAMPLE + 5; n++) await producer.enqueue('slack/alert', alert(`later ${n}`));
    const now = Date.now();
    const wait = await admin.wait('slack', now);
    expect(wait.due).toBe(WAIT_SAMPLE + 6);
    expect(wait.oldestWaitingMs).toBeGreaterThanOrEqual(now - first);
  });

  it('counts prioritized jobs, and tells a paused queue and a limiter in force', async () => {
    const { client: producer, admin } = await client();
    const at = Date.now();
    await producer.enqueue('email/welcome', { userId: 'u1', email: 'u1@example.com', firstName: 'Ana' } as never, { priority: 3 } as never);
    const wait = await admin.wait('email', at + 5000);
    expect(wait.due).toBe(1);
    expect(wait.oldestWaitingMs).toBeGreaterThanOrEqual(5000 - (Date.now() - at));

    await admin.pause('email');
    await admin.queue('email').rateLimit(60_000);
    const held = await admin.wait('email');
    expect(held.paused).toBe(true);
    expect(held.limitedMs).toBeGreaterThan(50_000);
  });

  it('knows the newest job start once a worker took one', async () => {
    const { client: producer, admin, peer } = await client();
    await producer.enqueue('slack/alert', alert('taken'));
    const connection = new Redis(`${peer.url}/5`, { maxRetriesPerRequest: null });
    connections.push(connection);
    const started = Date.now();
    const worker = new Worker('slack', async () => 'ok', { connection, prefix: `${peer.prefix}queue` });
    try {
      const seen = await waitFor(
        async () => {
          const wait = await admin.wait('slack');
          return wait.due === 0 && wait.newestStartAt !== null ? wait : undefined;
        },
        { what: 'the job to be taken' },
      );
      expect(seen.newestStartAt!).toBeGreaterThanOrEqual(started - 1000);
      expect(await admin.workers('slack')).toBe(1);
    } finally {
      await worker.close();
    }
  });
});

describe('CeresStore.observeWait: one episode, one alert, one recovery', () => {
  it('opens once, keeps what it saw, and ends after the hold', async () => {
    const { client: store, admin } = await client();
    const queue = admin.queue('email');
    const seen = (now: number, longWait: boolean, stalled = false): WaitObservation => ({
      now,
      longWait,
      stalled,
      recoverAfterMs: 2000,
      oldestWaitingMs: longWait ? 90_000 + now - 1_000_000 : 0,
      due: longWait ? 7 : 0,
      text: `text at ${now}`,
    });
    const observe = (observation: WaitObservation) => store.store.observeWait(queue, observation);

    expect(await observe(seen(1_000_000, false))).toBeNull();
    const opened = await observe(seen(1_000_000, true));
    expect(opened).toMatchObject({
      start: 1_000_000,
      end: null,
      longWait: true,
      stalled: false,
      alertPending: true,
      text: 'text at 1000000',
      due: 7,
    });
    // A second detector looking at the same moment sees the same episode, its text unchanged.
    expect(await observe(seen(1_000_100, true, true))).toMatchObject({
      start: 1_000_000,
      text: 'text at 1000000',
      everStalled: true,
      alertPending: true,
    });
    await store.store.ackWaitEpisode(queue, 1_000_000, 'alert');
    await store.store.ackWaitEpisode(queue, 1_000_000, 'alert');
    expect(await observe(seen(1_001_000, true))).toMatchObject({
      alertPending: false,
      recoveryPending: false,
      stalled: false,
      everStalled: true,
      peakMs: 91_000,
    });
    // Clear, but not for the hold: still open; back again: the hold starts over.
    expect(await observe(seen(1_002_000, false))).toMatchObject({ end: null, longWait: false });
    expect(await observe(seen(1_003_000, true))).toMatchObject({ end: null, longWait: true });
    expect(await observe(seen(1_004_000, false))).toMatchObject({ end: null });
    const ended = await observe(seen(1_006_000, false));
    expect(ended).toMatchObject({ start: 1_000_000, end: 1_004_000, recoveryPending: true, everLongWait: true, everStalled: true });
    expect(await store.store.waitEpisode(queue)).toMatchObject({ recoveryPending: true });
    // An ended episode is not reopened before its recovery is sent.
    expect(await observe(seen(1_007_000, true))).toMatchObject({ start: 1_000_000, recoveryPending: true });
    await store.store.ackWaitEpisode(queue, 999, 'recovery');
    expect(await store.store.waitEpisode(queue)).not.toBeNull();
    await store.store.ackWaitEpisode(queue, 1_000_000, 'recovery');
    expect(await store.store.waitEpisode(queue)).toBeNull();
    // The next one is a new episode.
    expect(await observe(seen(1_008_000, true))).toMatchObject({ start: 1_008_000, alertPending: true });
  });
});
