// The job ledger (issue 29): each job's outcome lands in PostgreSQL's job_ledger through a bounded
// Redis list, outlives the job in Redis, and survives PostgreSQL being down, each row written once.
import { makeTempDir, waitFor } from '@ceres/testing';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createWorkerApp, type WorkerApp } from '../src/app';
import { createLogger } from '../src/deps/logger';
import { JobLedger } from '../src/ledger';
import { configFor, useTestBed, waitForIdle, waitForState, workerEnv } from './helpers/harness';

const bed = useTestBed();

async function startApp(env: Record<string, string>): Promise<WorkerApp> {
  const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
  bed.apps.push(app);
  await app.started;
  return app;
}

describe('job ledger', () => {
  it("keeps a completed mail's row, with its result and no personal field, after Redis dropped the job", async () => {
    const env = workerEnv(bed.peers);
    await startApp(env);
    const queues = bed.producer(env);
    const payload = { userId: 'ledger-u1', email: 'ana.ledger@example.com', firstName: 'Anabella' };
    const { jobId } = await queues.enqueue('email/welcome', payload);
    const done = await waitForState(queues.getQueue('email'), jobId, 'completed');
    // As its retention would: the job is gone from Redis.
    await queues.getQueue('email').remove(jobId);
    expect(await queues.getQueue('email').getJob(jobId)).toBeUndefined();

    const row = await waitFor(() => bed.db.jobLedger.latest('email', jobId), { timeoutMs: 15_000, what: 'the ledger row' });
    expect(row).toMatchObject({
      queue: 'email',
      jobType: 'welcome',
      jobId,
      tenant: 'default',
      keyField: 'userId',
      key: 'ledger-u1',
      state: 'completed',
      attempts: 1,
      error: null,
      result: { sent: true, messageId: expect.any(String) },
    });
    expect(row.finishedAt.getTime()).toBe(done.finishedOn);
    expect(row.startedAt?.getTime()).toBe(done.processedOn);
    expect(row.enqueuedAt.getTime()).toBe(done.timestamp);
    const text = JSON.stringify(row);
    for (const personal of [payload.email, payload.firstName]) expect(text).not.toContain(personal);
  }, 40_000);

  it("finds one user's jobs across queues by key, a failure with its masked error, no other user's", async () => {
    const uploads = await makeTempDir('ledger-uploads');
    const env = workerEnv(bed.peers, { UPLOADS_DIR: uploads.path });
    await startApp(env);
    const queues = bed.producer(env);
    const mail = await queues.enqueue('email/welcome', { userId: 'ledger-u2', email: 'b2@example.com', firstName: 'Bea' });
    // No such file: it fails for good at once.
    const cv = await queues.enqueue('files/validate-cv', { userId: 'ledger-u2', fileKey: 'cv/missing.pdf' });
    const other = await queues.enqueue('email/welcome', { userId: 'ledger-u3', email: 'c3@example.com', firstName: 'Cai' });
    await waitForState(queues.getQueue('email'), mail.jobId, 'completed');
    await waitForState(queues.getQueue('files'), cv.jobId, 'failed');
    await waitForState(queues.getQueue('email'), other.jobId, 'completed');

    const rows = await waitFor(
      async () => {
        const found = await bed.db.jobLedger.search({ key: 'ledger-u2', limit: 10 });
        return found.length === 2 ? found : undefined;
      },
      { timeoutMs: 15_000, what: "both of ledger-u2's rows" },
    );
    expect(rows.map((row) => `${row.queue}/${row.jobType}:${row.state}`).sort()).toEqual([
      'email/welcome:completed',
      'files/validate-cv:failed',
    ]);
    const failed = rows.find((row) => row.state === 'failed')!;
    expect(failed.error).toMatch(/cv\/missing\.pdf|not found|no such/i);
    expect(failed.result).toBeNull();
    expect(await bed.db.jobLedger.search({ key: 'ledger-u2', state: 'failed', limit: 10 })).toHaveLength(1);
    expect(await bed.db.jobLedger.search({ key: 'ledger-u2', queue: 'email', limit: 10 })).toHaveLength(1);
    await uploads.remove();
  }, 40_000);

  it('drops and counts a batch beyond the Redis bound, keeping what is within it', async () => {
    const env = workerEnv(bed.peers);
    const queues = bed.producer(env);
    await queues.ready();
    let dropped = 0;
    const failing = { insertMany: () => Promise.reject(new Error('PostgreSQL is down')) };
    const ledger = new JobLedger({ store: queues.store, db: failing, logger: createLogger('silent'), maxPendingRows: 3 });
    ledger.on('dropped', (rows) => (dropped += rows));
    const job = (id: string) =>
      ({
        queueName: 'slack',
        name: 'alert',
        id,
        data: { text: 'x' },
        timestamp: 1,
        processedOn: 2,
        finishedOn: 3,
        attemptsMade: 1,
      }) as never;
    for (const id of ['1', '2']) ledger.record(job(id), 'completed');
    await ledger.flush();
    for (const id of ['3', '4']) ledger.record(job(id), 'completed');
    await ledger.flush();
    await ledger.drain();
    expect(dropped).toBe(2);
    expect(await queues.store.ledgerBacklog()).toEqual({ batches: 1, rows: 2, dropped: 2 });
    expect(ledger.buffered).toBe(0);
  });

  it('drops a batch it cannot read, writes the others, and keeps the pending count right', async () => {
    const env = workerEnv(bed.peers);
    const queues = bed.producer(env);
    await queues.ready();
    const unreadable: string[] = [];
    const ledger = new JobLedger({ store: queues.store, db: bed.db.jobLedger, logger: createLogger('silent'), maxPendingRows: 1_000 });
    ledger.on('dropped', (_rows, where) => unreadable.push(where));
    expect(await queues.store.pushLedgerBatch('{not json', 5, 1_000)).toBe(true);
    expect(await queues.store.pushLedgerBatch('[["x"]]', 1, 1_000)).toBe(true);
    ledger.record(
      {
        queueName: 'slack',
        name: 'alert',
        id: 'readable-1',
        data: { text: 'x' },
        timestamp: 1,
        processedOn: 2,
        finishedOn: 3,
        attemptsMade: 1,
      } as never,
      'completed',
    );
    await ledger.flush();
    await ledger.drain();
    expect(unreadable).toEqual(['unreadable', 'unreadable']);
    expect(await queues.store.ledgerBacklog()).toEqual({ batches: 0, rows: 0, dropped: 0 });
    expect(await bed.db.jobLedger.latest('slack', 'readable-1')).toMatchObject({ state: 'completed' });
  });
});

const own = useTestBed({ ownServers: true });

describe('job ledger with PostgreSQL down', () => {
  it('writes every row of 1,000 jobs exactly once after PostgreSQL comes back, across two worker processes', async () => {
    const env = workerEnv(own.peers, { SLACK_RATE_PER_SECOND: '10000' });
    const apps = [0, 1].map(() => createWorkerApp({ config: configFor(env), logger: createLogger('silent') }));
    own.apps.push(...apps);
    await Promise.all(apps.map((app) => app.started));
    const queues = own.producer(env);
    await own.peers.postgres.stop();
    try {
      const ids: string[] = [];
      for (let start = 0; start < 1000; start += 100) {
        const batch = await queues.enqueueBulk(
          'slack/alert',
          Array.from({ length: 100 }, (_, index) => ({ text: `ledger ${start + index}` })),
        );
        ids.push(...batch.map((result) => result.jobId));
      }
      await waitForIdle(queues.getQueue('slack'), { timeoutMs: 60_000 });
      expect(await queues.getQueue('slack').getCompletedCount()).toBe(1000);
      // Every row waits in Redis: none in a process's memory, none written.
      await waitFor(async () => (await queues.store.ledgerBacklog()).rows === 1000, { timeoutMs: 15_000, what: 'the rows in Redis' });
      // The drainers keep trying meanwhile: let a few of their turns fail.
      let failedTurns = 0;
      await waitFor(
        async () => {
          await apps[0]!.ledger.drain();
          return ++failedTurns >= 3;
        },
        { what: 'three failed drain turns' },
      );
      expect((await queues.store.ledgerBacklog()).rows).toBe(1000);
    } finally {
      await own.peers.postgres.start();
    }
    await waitFor(async () => (await queues.store.ledgerBacklog()).rows === 0, { timeoutMs: 30_000, what: 'the list to drain' });
    const { rows } = await own.db.pool.query<{ rows: number; ids: number }>(
      "SELECT count(*)::int AS rows, count(DISTINCT job_id)::int AS ids FROM job_ledger WHERE queue = 'slack' AND job_type = 'alert'",
    );
    expect(rows[0]).toEqual({ rows: 1000, ids: 1000 });
    expect((await queues.store.ledgerBacklog()).dropped).toBe(0);
  }, 120_000);
});

describe('job ledger cost', () => {
  it('sends no Redis command per job: 2,000 rows cost two pushes and one drain, about 20 commands in all', async () => {
    const env = workerEnv(own.peers);
    const queues = own.producer(env);
    await queues.ready();
    const ledger = new JobLedger({ store: queues.store, db: own.db.jobLedger, logger: createLogger('silent'), maxPendingRows: 1_000_000 });
    const meter = new Redis(own.peers.redis.url);
    const commands = async () => {
      const info = await meter.info('commandstats');
      return [...info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    };
    const before = await commands();
    for (let i = 0; i < 2_000; i++)
      ledger.record(
        {
          queueName: 'slack',
          name: 'alert',
          id: `cost-${i}`,
          data: { text: 'x' },
          timestamp: 1,
          processedOn: 2,
          finishedOn: 3,
          attemptsMade: 1,
        } as never,
        'completed',
      );
    // Recording touched nothing but memory.
    expect((await commands()) - before).toBe(1); // the INFO above
    await ledger.flush();
    await ledger.drain();
    // Two pushes (EVALSHA, HGET, RPUSH, HINCRBY each), the drain's take, remove, next take and
    // release scripts with the commands inside them, and the INFOs.
    const used = (await commands()) - before;
    expect(used).toBeLessThanOrEqual(30);
    const { rows } = await own.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM job_ledger WHERE job_id LIKE 'cost-%'");
    expect(rows[0]!.n).toBe(2_000);
    meter.disconnect();
  });
});
