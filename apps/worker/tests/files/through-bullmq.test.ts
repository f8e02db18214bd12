import { randomUUID } from 'node:crypto';
import { createQueueClient, createRedisConnection, loadQueuesConfig, registry, workerSettings, type QueueClient } from '@ceres/queues';
import { sharedRedis, waitFor, type RedisPeer } from '@ceres/testing';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FILE_LIMITS } from '../../src/files/limits';
import { optimizeProfilePicture } from '../../src/processors/files/optimize-profile-picture';
import { validateCv } from '../../src/processors/files/validate-cv';
import { makePdf, makePng } from './fixtures';
import { attemptContext, fileSandbox, makeUploads, type Uploads } from './helpers';

// The processors in a real BullMQ worker with the registry's job options: a final failure
// must not walk the retry schedule, and an invalid CV must complete, not fail.
let redis: RedisPeer;
let uploads: Uploads;
let client: QueueClient;
let workerConnection: Redis;
let worker: Worker;

beforeAll(async () => {
  redis = sharedRedis();
  uploads = await makeUploads();
  const config = loadQueuesConfig({ REDIS_URL: redis.url, REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:` });
  client = createQueueClient({ config });
  workerConnection = createRedisConnection(config, 'worker') as Redis;
  const deps = { fileStore: uploads.store, fileSandbox, limits: DEFAULT_FILE_LIMITS };
  worker = new Worker(
    'files',
    async (job: Job) => {
      if (job.name === 'validate-cv') return validateCv(job, deps, attemptContext());
      if (job.name === 'optimize-profile-picture') return optimizeProfilePicture(job, deps, attemptContext());
      throw new Error(`unexpected job ${job.name}`);
    },
    { connection: workerConnection, prefix: config.bullPrefix, concurrency: registry.files.concurrency, ...workerSettings },
  );
  worker.on('error', () => {});
});

afterAll(async () => {
  await worker?.close();
  workerConnection?.disconnect();
  await client?.close();
  await uploads?.remove();
});

async function settled(jobId: string): Promise<Job> {
  const queue = client.getQueue('files');
  await waitFor(
    async () => {
      const state = await queue.getJobState(jobId);
      return state === 'completed' || state === 'failed';
    },
    { timeoutMs: 10_000, what: `job ${jobId} to settle` },
  );
  // Read after settling: a copy fetched while active would show the attempt not yet counted.
  return (await queue.getJob(jobId)) as Job;
}

describe('file jobs through BullMQ', () => {
  it('fails a traversal key after one attempt, although the queue allows six', async () => {
    expect(registry.files.defaultJobOptions.attempts).toBeGreaterThan(1);
    const { jobId } = await client.enqueue('files/validate-cv', { userId: 'user-1', fileKey: 'a/../../etc/passwd' });
    const job = await settled(jobId);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/unsafe file key .*"\.\." segment/);
  });

  it('fails a non-image profile picture after one attempt', async () => {
    const fileKey = await uploads.put('avatars/u/me.png', 'plain text');
    const { jobId } = await client.enqueue('files/optimize-profile-picture', { userId: 'u', fileKey });
    const job = await settled(jobId);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/is not an image/);
  });

  it('completes an invalid CV with valid: false and a picture with its result', async () => {
    const cvKey = await uploads.put('cvs/u/photo.pdf', await makePng());
    const cv = await settled((await client.enqueue('files/validate-cv', { userId: 'u', fileKey: cvKey })).jobId);
    expect(await cv.getState()).toBe('completed');
    expect(cv.returnvalue).toMatchObject({ valid: false, type: 'unknown' });
    expect(cv.progress).toBe(100);

    const goodKey = await uploads.put('cvs/u/cv.pdf', await makePdf(2));
    const good = await settled((await client.enqueue('files/validate-cv', { userId: 'u', fileKey: goodKey })).jobId);
    expect(good.returnvalue).toEqual({ valid: true, type: 'pdf', pages: 2, problems: [] });

    const pictureKey = await uploads.put('avatars/u/big.png', await makePng(1024, 768));
    const picture = await settled((await client.enqueue('files/optimize-profile-picture', { userId: 'u', fileKey: pictureKey })).jobId);
    expect(picture.returnvalue).toMatchObject({ outputKey: 'avatars/u/big.webp', width: 512, height: 512 });
    expect(picture.progress).toBe(100);
  });
});
