import { randomUUID } from 'node:crypto';
import { startRedisServer, TEST_ENCRYPTION_KEYS, waitFor, type RedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  decryptJobPayload,
  parseKeyring,
  BatchValidationError,
  closeQueues,
  createQueueClient,
  enqueue,
  enqueueEmailVerify,
  enqueueSlackAlert,
  getQueue,
  loadQueuesConfig,
  PayloadValidationError,
  QueueUnavailableError,
  RETRY_BACKOFF_TYPE,
  type QueueClient,
} from '../src';
import { connectionOf } from '../src/client';

let redis: RedisServer;
let inspect: Redis;
const clients: QueueClient[] = [];

// The module-level producers read process.env: set by the tests below, restored for the files
// that run after this one in the same process (the test projects do not isolate files).
const savedEnv = { ...process.env };

beforeAll(async () => {
  redis = await startRedisServer();
  inspect = new Redis(`${redis.url}/5`);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

afterAll(async () => {
  for (const name of ['REDIS_URL', 'JOBS_ENCRYPTION_KEYS', 'REDIS_PREFIX']) {
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
  }
  await closeQueues();
  inspect.disconnect();
  await redis.close();
});

/** A client with a prefix of its own, so each test starts from empty queues. */
async function freshClient(): Promise<QueueClient> {
  const config = loadQueuesConfig({
    REDIS_URL: redis.url,
    REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:`,
    JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
  });
  const client = createQueueClient({ config });
  clients.push(client);
  return client;
}

const verify = (userId = 'user-123') => ({
  userId,
  email: 'juan@example.com',
  firstName: 'Juan',
  token: 'abcdefghijklmnop1234',
});

describe('producers against a real Redis', () => {
  it('enqueues the same verify twice as one job, the second reported as a duplicate', async () => {
    const client = await freshClient();
    const first = await client.enqueue('email/verify', verify());
    const second = await client.enqueue('email/verify', verify());
    expect(first).toEqual({ jobId: 'email:verify:user-123', duplicate: false });
    expect(second).toEqual({ jobId: 'email:verify:user-123', duplicate: true });
    expect(await client.getQueue('email').count()).toBe(1);
  });

  it('turns 50 concurrent enqueues of one id into exactly one job and one non-duplicate', async () => {
    const client = await freshClient();
    const results = await Promise.all(Array.from({ length: 50 }, () => client.enqueue('email/verify', verify('racer'))));
    expect(new Set(results.map((result) => result.jobId))).toEqual(new Set(['email:verify:racer']));
    expect(results.filter((result) => !result.duplicate)).toHaveLength(1);
    expect(await client.getQueue('email').getJobCounts('wait', 'delayed', 'prioritized')).toEqual({
      wait: 1,
      delayed: 0,
      prioritized: 0,
    });
  });

  it('stores the registry defaults on the job: 6 attempts, the custom backoff, retention by age', async () => {
    const client = await freshClient();
    const { jobId } = await client.enqueue('email/welcome', { userId: 'u1', email: 'a@example.com', firstName: 'Ana' });
    const job = await client.getQueue('email').getJob(jobId);
    expect(job?.opts.attempts).toBe(6);
    expect(job?.opts.backoff).toEqual({ type: RETRY_BACKOFF_TYPE });
    expect(job?.opts.removeOnComplete).toEqual({ age: 3600 });
    expect(job?.opts.removeOnFail).toEqual({ age: 86400 });
    const slack = await client.enqueue('slack/alert', { text: 'hello', dedupeKey: 'k1' });
    const alert = await client.getQueue('slack').getJob(slack.jobId);
    // Alerts follow the standard schedule too (a Slack incident of minutes still delivers them).
    expect(alert?.opts.attempts).toBe(6);
    expect(alert?.opts.backoff).toEqual({ type: RETRY_BACKOFF_TYPE });
  });

  it('passes delay and priority through where the job type allows them', async () => {
    const client = await freshClient();
    const { jobId } = await client.enqueue('email/verify', verify('delayed'), { delay: 60_000 });
    expect(await client.getQueue('email').getJobState(jobId)).toBe('delayed');
    const urgent = await client.enqueue('files/validate-cv', { userId: 'u', fileKey: 'cv/a.pdf' }, { priority: 1 });
    expect(await client.getQueue('files').getJobState(urgent.jobId)).toBe('prioritized');
    await expect(client.enqueue('slack/alert', { text: 'x' }, { priority: 1 } as never)).rejects.toThrow(/priority is not accepted/);
    await expect(client.enqueue('email/verify', verify('neg'), { delay: -5 })).rejects.toThrow(PayloadValidationError);
  });

  it('gives alerts without a dedupe key an id of their own, never a duplicate', async () => {
    const client = await freshClient();
    const a = await client.enqueue('slack/alert', { text: 'one' });
    const b = await client.enqueue('slack/alert', { text: 'one' });
    expect(a.jobId).not.toBe(b.jobId);
    expect([a.duplicate, b.duplicate]).toEqual([false, false]);
  });

  it('enqueues nothing for an invalid payload or an unusable key', async () => {
    const client = await freshClient();
    await expect(client.enqueue('email/verify', { ...verify(), email: 'nope' })).rejects.toBeInstanceOf(PayloadValidationError);
    // The schema states the key rule (no ":"), so the payload check refuses it, naming the field.
    const colon = await client.enqueue('email/verify', verify('user:1')).catch((error: unknown) => error);
    expect(colon).toBeInstanceOf(PayloadValidationError);
    expect((colon as PayloadValidationError).issues).toEqual([
      { field: 'userId', message: expect.stringMatching(/^userId must not contain ":"/) },
    ]);
    expect(await inspect.keys(`${client.config.bullPrefix}:*`)).toEqual([]);
    expect(await client.getQueue('email').count()).toBe(0);
  });

  it('enqueues a batch together, and nothing of a batch with one bad item', async () => {
    const client = await freshClient();
    const results = await client.enqueueBulk('email/verify', [verify('b1'), verify('b2'), verify('b1')]);
    expect(results).toEqual([
      { jobId: 'email:verify:b1', duplicate: false },
      { jobId: 'email:verify:b2', duplicate: false },
      { jobId: 'email:verify:b1', duplicate: true },
    ]);
    const error = await client
      .enqueueBulk('email/verify', [verify('b3'), { ...verify('b4'), email: 'x' }, verify('b:5')])
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BatchValidationError);
    expect((error as BatchValidationError).items.map((item) => [item.index, item.issues[0]!.field])).toEqual([
      [1, 'email'],
      [2, 'userId'],
    ]);
    expect(await client.getQueue('email').count()).toBe(2);
  });

  it('fails fast with QueueUnavailableError while Redis is down, and works again when it is back', async () => {
    const client = await freshClient();
    await client.enqueue('email/verify', verify('before'));
    await redis.stop();
    try {
      const started = Date.now();
      await expect(client.enqueue('email/verify', verify('during'))).rejects.toBeInstanceOf(QueueUnavailableError);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await redis.start();
    }
    await waitFor(() => client.isReady(), { what: 'the producer to reconnect' });
    expect(await client.enqueue('email/verify', verify('after'))).toEqual({
      jobId: 'email:verify:after',
      duplicate: false,
    });
  });

  it('answers QueueUnavailableError when Redis hangs past REDIS_COMMAND_TIMEOUT_MS, and works once it answers again', async () => {
    const config = loadQueuesConfig({
      REDIS_URL: redis.url,
      REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:`,
      REDIS_COMMAND_TIMEOUT_MS: '200',
      JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    });
    const client = createQueueClient({ config });
    clients.push(client);
    await client.enqueue('email/verify', verify('before'));
    // Redis holds every client's commands for 1.5 s: a hang with the sockets still open.
    await inspect.call('CLIENT', 'PAUSE', '1500', 'ALL');
    const started = Date.now();
    const hung = await client.enqueue('email/verify', verify('hung')).catch((error: unknown) => error);
    expect(hung).toBeInstanceOf(QueueUnavailableError);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(client.isReady()).toBe(true);
    await waitFor(async () => (await client.enqueue('email/verify', verify('after')).catch(() => undefined)) !== undefined, {
      what: 'an enqueue to succeed after the pause',
      timeoutMs: 5000,
    });
  });

  it('answers QueueUnavailableError, not a raw ioredis error, in the moment the socket is gone but ioredis is still "ready"', async () => {
    const client = await freshClient();
    await client.enqueue('email/verify', verify('before'));
    // What Redis going away looks like from here for an instant: the socket no longer writable,
    // the connection not yet told.
    (connectionOf(client) as Redis).stream.end();
    expect(connectionOf(client).status).toBe('ready');
    expect(client.isReady()).toBe(false);
    await expect(client.enqueue('email/verify', verify('half-closed'))).rejects.toBeInstanceOf(QueueUnavailableError);
    await waitFor(() => client.isReady(), { what: 'the producer to reconnect' });
    expect(await inspect.exists(`${client.config.bullPrefix}:email:email:verify:half-closed`)).toBe(0);
  });
});

describe('module-level producers', () => {
  it('read REDIS_URL, keep their keys under ceres:queue: in DB 5, and expose getQueue', async () => {
    process.env.REDIS_URL = redis.url;
    process.env.JOBS_ENCRYPTION_KEYS = TEST_ENCRYPTION_KEYS;
    delete process.env.REDIS_PREFIX;
    await getQueue('email')
      .obliterate({ force: true })
      .catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    const result = await enqueueEmailVerify(verify('module-user'));
    expect(result).toEqual({ jobId: 'email:verify:module-user', duplicate: false });
    const keys = await inspect.keys('ceres:queue:*');
    expect(keys).toContain('ceres:queue:email:email:verify:module-user');
    const db0 = new Redis(`${redis.url}/0`);
    expect(await db0.keys('ceres:queue:*')).toEqual([]);
    db0.disconnect();
    const job = await getQueue('email').getJob('email:verify:module-user');
    expect(job?.data.firstName).toBeUndefined();
    expect(job?.data.$sealed).toMatch(/^enc:test1:email,firstName,token:/);
    expect((decryptJobPayload(parseKeyring(TEST_ENCRYPTION_KEYS), 'email/verify', job?.data) as { firstName: string }).firstName).toBe(
      'Juan',
    );
    await closeQueues();
  });

  it('take the call of the platform docs verbatim (a 6-character token), and enqueue(type, …) is the same producer', async () => {
    process.env.REDIS_URL = redis.url;
    process.env.JOBS_ENCRYPTION_KEYS = TEST_ENCRYPTION_KEYS;
    delete process.env.REDIS_PREFIX;
    await getQueue('email')
      .obliterate({ force: true })
      .catch(() => {});
    // ../shared/reference/queues-and-workers.es.md, "Encolar Jobs (Productores)":
    const result = await enqueueEmailVerify({
      userId: 'user-123',
      token: 'abc123',
      email: 'user@example.com',
      firstName: 'Juan',
    });
    expect(result).toEqual({ jobId: 'email:verify:user-123', duplicate: false });
    const stored = (await getQueue('email').getJob('email:verify:user-123'))?.data;
    expect(JSON.stringify(stored)).not.toContain('user@example.com');
    expect(decryptJobPayload(parseKeyring(TEST_ENCRYPTION_KEYS), 'email/verify', stored)).toEqual({
      userId: 'user-123',
      token: 'abc123',
      email: 'user@example.com',
      firstName: 'Juan',
    });
    expect(await enqueue('email/verify', { userId: 'user-123', token: 'abc123', email: 'user@example.com', firstName: 'Juan' })).toEqual({
      jobId: 'email:verify:user-123',
      duplicate: true,
    });
    await closeQueues();
  });

  it('type each payload and its options from the job definition (npm run typecheck fails otherwise)', () => {
    const misuses = () => {
      // @ts-expect-error: slack/alert accepts no priority
      void enqueueSlackAlert({ text: 'disk full' }, { priority: 1 });
      // @ts-expect-error: maintenance job types are enqueued by the worker only
      void enqueue('maintenance/daily-report', {});
      // @ts-expect-error: the token is required
      void enqueueEmailVerify({ userId: 'u', email: 'a@example.com', firstName: 'A' });
    };
    expect(misuses).toBeTypeOf('function');
  });
});

describe('QueueClient.check and checkBulk', () => {
  it('throw what enqueue and enqueueBulk would, and write nothing', async () => {
    const client = await freshClient();
    const valid = { userId: 'u-1', email: 'ana@example.com', firstName: 'Ana', token: 'abcdef' };
    expect(() => client.check('email/verify', valid)).not.toThrow();
    expect(() => client.check('email/verify', { ...valid, email: 'nope' })).toThrow(PayloadValidationError);
    expect(() => client.check('slack/alert', { text: 'x' }, { priority: 2 })).toThrow(/priority is not accepted for this job type/);
    expect(() => client.checkBulk('email/verify', [valid, { ...valid, userId: 'a:b' }])).toThrow(BatchValidationError);
    await expect(client.enqueue('email/verify', { ...valid, email: 'nope' })).rejects.toThrow(PayloadValidationError);
    expect(await inspect.keys(`${client.config.bullPrefix}:*`)).toEqual([]);
  });
});
