import { sharedPostgres, type PostgresPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createFailedJobArchive, type Db, type FailedJobArchive } from '../src';

let server: PostgresPeer;
let db: Db;
let archive: FailedJobArchive;

beforeAll(async () => {
  // A copy of the run's migrated template database.
  server = await sharedPostgres();
  db = createDb(server.url);
  archive = createFailedJobArchive(db.pool);
}, 60_000);

afterAll(async () => {
  await db?.close();
  await server?.close();
});

const failure = (queue: string, jobId: string, failedAt: string) => ({
  queue,
  jobName: 'welcome',
  jobId,
  payload: { userId: jobId },
  error: 'boom',
  attemptsMade: 6,
  failedAt: new Date(failedAt),
});

describe('the failed-job archive of the operator', () => {
  it('lists newest first, by queue and since, claims a row for a replay once, forgets and flushes', async () => {
    await db.failedJobs.archive(failure('email', 'a', '2026-01-01T10:00:00Z'));
    await db.failedJobs.archive(failure('email', 'b', '2026-01-02T10:00:00Z'));
    await db.failedJobs.archive(failure('files', 'c', '2026-01-03T10:00:00Z'));

    expect((await archive.list({ limit: 10 })).map((row) => row.jobId)).toEqual(['c', 'b', 'a']);
    expect((await archive.list({ queue: 'email', limit: 10 })).map((row) => row.jobId)).toEqual(['b', 'a']);
    expect((await archive.list({ since: new Date('2026-01-02T00:00:00Z'), limit: 10 })).map((row) => row.jobId)).toEqual(['c', 'b']);
    expect((await archive.list({ limit: 1 })).map((row) => row.jobId)).toEqual(['c']);

    const a = (await archive.list({ queue: 'email', limit: 10 }))[1];
    expect(a).toMatchObject({ jobId: 'a', payload: { userId: 'a' }, retriedAt: null, retriedJobId: null });
    expect(await archive.notRetried({ queue: 'email' })).toEqual([a!.id, expect.any(Number)]);

    // Two replays at once: exactly one claims the row.
    const claims = await Promise.all([archive.claimRetry(a!.id), archive.claimRetry(a!.id), archive.claimRetry(a!.id)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    await archive.completeRetry(a!.id, 'email:welcome:a');
    expect(await archive.get(a!.id)).toMatchObject({ retriedJobId: 'email:welcome:a', retriedAt: expect.any(Date) });
    expect(await archive.notRetried({ queue: 'email' })).not.toContain(a!.id);
    await archive.releaseRetry(a!.id);
    expect(await archive.notRetried({ queue: 'email' })).toContain(a!.id);

    expect(await archive.forget(a!.id)).toBe(true);
    expect(await archive.forget(a!.id)).toBe(false);
    expect(await archive.get(a!.id)).toBeNull();

    expect(await archive.flush({ before: new Date('2026-01-03T00:00:00Z') })).toBe(1);
    expect((await archive.list({ limit: 10 })).map((row) => row.jobId)).toEqual(['c']);
    expect(await archive.flush()).toBe(1);
    expect(await archive.list({ limit: 10 })).toEqual([]);
  });
});
