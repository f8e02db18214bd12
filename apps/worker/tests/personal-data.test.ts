import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createRedisConnection, loadQueuesConfig, QueueClient, type QueuesConfig } from '@ceres/queues';
import { testEncryptionKey, waitFor } from '@ceres/testing';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app';
import { createLogger } from '../src/deps/logger';
import { configFor, useTestBed, waitForState, workerEnv } from './helpers/harness';

// Servers of its own: dumpRedis reads every key of the database, looking for personal data anywhere.
const bed = useTestBed({ ownServers: true });
const HOUR = 3_600_000;

/** Every value of every key in the Redis database, as one text. */
async function dumpRedis(config: QueuesConfig): Promise<{ keys: number; text: string }> {
  const redis = createRedisConnection(config, 'worker', { connectionName: 'test-scan' });
  try {
    const parts: string[] = [];
    let keys = 0;
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const key of batch) {
        keys += 1;
        parts.push(key);
        const type = await redis.type(key);
        if (type === 'string') parts.push(String(await redis.get(key)));
        else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1)));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
        else parts.push(`<${type}>`);
      }
    } while (cursor !== '0');
    return { keys, text: parts.join('\n') };
  } finally {
    await redis.quit();
  }
}

async function dumpFailedJobs(url: string): Promise<{ rows: number; text: string }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT payload::text AS payload, error, stacktrace FROM failed_jobs');
    return { rows: rows.length, text: rows.map((row) => `${row.payload}\n${row.error}\n${row.stacktrace}`).join('\n') };
  } finally {
    await client.end();
  }
}

/** Collects the worker's JSON log lines. */
function logSink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger('debug', stream) };
}

describe('personal data at rest', () => {
  it('after 1,000 verify and welcome jobs (some dead-lettered), no address, name or token is in Redis, failed_jobs or the logs; the mails are right', async () => {
    const env = workerEnv(bed.peers);
    const run = randomBytes(4).toString('hex');
    const people = Array.from({ length: 500 }, (_, i) => ({
      userId: `pd-${run}-${i}`,
      email: `${i % 25 === 0 ? 'reject' : 'person'}.${run}.${i}@mail${i}.example.com`,
      firstName: `Zoraida${run}${i}`,
      token: `tok${run}${randomBytes(9).toString('hex')}`,
    }));
    bed.peers.smtp.setRules([{ match: /^reject\./, code: 550 }]);
    for (const person of people)
      await bed.db.tokens.insert({ token: person.token, userId: person.userId, expiresAt: new Date(Date.now() + HOUR) });

    const { lines, logger } = logSink();
    const app = createWorkerApp({ config: configFor({ ...env, LOG_LEVEL: 'debug' }), logger });
    bed.apps.push(app);
    await app.started;
    const producer = bed.producer(env);
    await producer.enqueueBulk('email/verify', people);
    await producer.enqueueBulk(
      'email/welcome',
      people.map(({ userId, email, firstName }) => ({ userId, email, firstName })),
    );

    const rejected = people.filter((person) => person.email.startsWith('reject.'));
    const delivered = people.filter((person) => !person.email.startsWith('reject.'));
    await bed.peers.smtp.waitForMessages(delivered.length * 2, 120_000);
    await waitFor(async () => (await dumpFailedJobs(bed.peers.postgres.url)).rows >= rejected.length * 2, {
      timeoutMs: 60_000,
      what: 'the rejected mails in failed_jobs',
    });

    // The mails: one verification mail with the person's own token and one welcome mail each.
    const mails = bed.peers.smtp.messages;
    expect(mails).toHaveLength(delivered.length * 2);
    for (const person of delivered) {
      const theirs = mails.filter((mail) => mail.envelope.to[0] === person.email);
      expect(theirs.map((mail) => mail.parsed.subject).sort()).toEqual(['Confirm your email address', 'Welcome to Ceres']);
      const verify = theirs.find((mail) => mail.parsed.subject === 'Confirm your email address')!;
      expect(String(verify.parsed.text)).toContain(`verify?token=${person.token}`);
      expect(String(verify.parsed.text)).toContain(`Hi ${person.firstName},`);
    }

    const redis = await dumpRedis(producer.config);
    const archive = await dumpFailedJobs(bed.peers.postgres.url);
    const logs = lines.join('');
    expect(redis.keys).toBeGreaterThan(1000);
    expect(archive.rows).toBe(rejected.length * 2);
    const leaks: string[] = [];
    for (const person of people) {
      for (const value of [person.email, person.firstName, person.token]) {
        if (redis.text.includes(value)) leaks.push(`redis: ${value}`);
        if (archive.text.includes(value)) leaks.push(`failed_jobs: ${value}`);
        if (logs.includes(value)) leaks.push(`log: ${value}`);
      }
    }
    expect(leaks.slice(0, 10)).toEqual([]);
    // The archived reason still says what happened, with the address masked.
    expect(archive.text).toMatch(/permanent SMTP 550: .*r\*\*\*@mail\d+\.example\.com/);
  }, 240_000);
});

describe('a sealed payload belongs to its job', () => {
  it("another user's sealed fields copied into a job are refused without retry, and nobody is mailed (issue 24 item 14)", async () => {
    const env = workerEnv(bed.peers);
    const producer = bed.producer(env);
    // Alice's job is enqueued while no worker runs; its stored data is copied into a job for Mallory.
    const alice = await producer.enqueue(
      'email/welcome',
      { userId: 'copy-alice', email: 'alice@copy.example.com', firstName: 'Alice' },
      { delay: 600_000 },
    );
    const queue = producer.getQueue('email');
    const stolen = (await queue.getJob(alice.jobId))!.data as Record<string, unknown>;
    expect(stolen.email).toBeUndefined();
    await queue.add('welcome', { ...stolen, userId: 'copy-mallory' }, { jobId: 'email:welcome:copy-mallory', attempts: 6 });
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
    bed.apps.push(app);
    await app.started;
    const failed = await waitForState(queue, 'email:welcome:copy-mallory', 'failed');
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/^cannot decrypt the payload: \$sealed: does not open with key "test1"/);
    // A control job of the same worker is mailed: it ran, and refused only the copy.
    const control = await producer.enqueue('email/welcome', { userId: 'copy-control', email: 'control@copy.example.com', firstName: 'C' });
    await waitForState(queue, control.jobId, 'completed');
    expect(bed.peers.smtp.messages.map((mail) => mail.envelope.to[0])).not.toContain('alice@copy.example.com');
  }, 30_000);
});

describe('key rotation', () => {
  it('jobs written with v1 and with v2 are all delivered under "v2,v1"; with v1 removed an old job is retried on the schedule with a clear reason (a key may come back) and the worker keeps running', async () => {
    const v1 = testEncryptionKey('v1');
    const v2 = testEncryptionKey('v2');
    const base = workerEnv(bed.peers);
    const withKeys = (keys: string) => ({ ...base, JOBS_ENCRYPTION_KEYS: keys });
    const person = (label: string) => ({ userId: `rot-${label}`, email: `${label}@rotation.example.com`, firstName: 'Rot' });

    // Written under v1 while no worker runs: one to deliver after the rotation, one to strand.
    const oldProducer = bed.producer(withKeys(v1));
    const kept = await oldProducer.enqueue('email/welcome', person('old-kept'));
    const stranded = await oldProducer.enqueue('email/welcome', person('old-stranded'), { delay: 60_000 });

    const rotated = withKeys(`${v2},${v1}`);
    const newProducer = bed.producer(rotated);
    const fresh = await newProducer.enqueue('email/welcome', person('new'));
    const stored = await newProducer.getQueue('email').getJob(fresh.jobId);
    // The personal fields travel sealed together, under the current key.
    expect(stored!.data.email).toBeUndefined();
    expect(String(stored!.data.$sealed)).toMatch(/^enc:v2:email,firstName:/);
    expect(String((await newProducer.getQueue('email').getJob(kept.jobId))!.data.$sealed)).toMatch(/^enc:v1:/);

    const rotatedApp = createWorkerApp({ config: configFor(rotated), logger: createLogger('silent') });
    bed.apps.push(rotatedApp);
    await rotatedApp.started;
    const mails = await bed.peers.smtp.waitForMessages(2);
    expect(mails.map((mail) => mail.envelope.to[0]).sort()).toEqual(['new@rotation.example.com', 'old-kept@rotation.example.com']);
    await rotatedApp.stop();

    // v1 retired while a v1 job still waits: the attempt fails saying which key is missing, and the
    // job waits for its retry (a process may learn the key later) instead of dead-lettering.
    const retired = withKeys(v2);
    const { lines, logger } = logSink();
    const app = createWorkerApp({ config: configFor(retired), logger });
    bed.apps.push(app);
    await app.started;
    const queue = newProducer.getQueue('email');
    await (await queue.getJob(stranded.jobId))!.promote();
    await waitFor(async () => (await queue.getJobState(stranded.jobId)) === 'delayed', { what: 'the retry of the v1 job' });
    const retried = (await queue.getJob(stranded.jobId))!;
    expect(retried.attemptsMade).toBe(1);
    expect(retried.failedReason).toBe(
      'cannot open the payload yet: $sealed: encrypted with key "v1", which JOBS_ENCRYPTION_KEYS does not list (listed: v2)',
    );
    expect(await bed.db.failedJobs.list({ queue: 'email', jobId: stranded.jobId })).toEqual([]);
    expect(lines.join('')).toContain('payload does not open with the keys this worker has; retried on the schedule');

    // Still running: a new job (v2) is delivered.
    const after = await bed.producer(retired).enqueue('email/welcome', person('after'));
    await waitForState(queue, after.jobId, 'completed');
    expect(bed.peers.smtp.messages.map((mail) => mail.envelope.to[0])).toContain('after@rotation.example.com');

    // The key comes back (a worker that has it): the waiting job runs on its next attempt.
    await app.stop();
    const restored = createWorkerApp({ config: configFor(rotated), logger: createLogger('silent') });
    bed.apps.push(restored);
    await restored.started;
    const delivered = await waitForState(queue, stranded.jobId, 'completed');
    expect(delivered.attemptsMade).toBeGreaterThanOrEqual(2);
    expect(bed.peers.smtp.messages.map((mail) => mail.envelope.to[0])).toContain('old-stranded@rotation.example.com');
  }, 60_000);

  it('a producer without JOBS_ENCRYPTION_KEYS refuses personal-data jobs, naming the variable, and enqueues nothing', async () => {
    const env = workerEnv(bed.peers);
    const { JOBS_ENCRYPTION_KEYS: _omitted, ...withoutKeys } = env;
    const client = new QueueClient({ config: loadQueuesConfig(withoutKeys), connectionName: 'test-no-keys' });
    bed.producers.push(client);
    await expect(client.enqueue('email/welcome', { userId: 'no-keys', email: 'nk@example.com', firstName: 'N' })).rejects.toThrow(
      /^JOBS_ENCRYPTION_KEYS: is required/,
    );
    expect(await client.getQueue('email').getJob('email:welcome:no-keys')).toBeUndefined();
    expect(() => configFor(withoutKeys)).toThrow(/^JOBS_ENCRYPTION_KEYS: is required by the worker/);
    expect(() => configFor({ ...env, JOBS_ENCRYPTION_KEYS: 'v1:short' })).toThrow(
      /^JOBS_ENCRYPTION_KEYS: key "v1" is 3 bytes; AES-256 needs 32/,
    );
  });
});
