import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, waitFor } from '@ceres/testing';
import type { Job } from 'bullmq';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/deps/logger';
import { createMailer } from '../src/deps/mailer';
import { welcome } from '../src/processors/email/welcome';
import { spawnWorker, useTestBed, workerEnv, type WorkerProcess } from './helpers/harness';

const bed = useTestBed();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How many mails each address got, from the `To:` lines of the outbox's `.eml` files. */
async function mailsPerAddress(dir: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const name of (await readdir(dir)).filter((file) => file.endsWith('.eml'))) {
    const to = /^To: (.+)$/m.exec(await readFile(path.join(dir, name), 'utf8'))?.[1]?.trim() ?? '?';
    counts.set(to, (counts.get(to) ?? 0) + 1);
  }
  return counts;
}

describe('account mails while a worker is SIGKILLed', () => {
  it('500 welcome mails, two workers, one killed three times mid-run: each address mailed once', async () => {
    const outbox = await makeTempDir('outbox-kills');
    try {
      const env = workerEnv(bed.peers, { OUTBOX_DIR: outbox.path });
      delete (env as Record<string, string | undefined>).SMTP_URL;
      const steady = spawnWorker(env);
      bed.children.push(steady);
      let victim: WorkerProcess = spawnWorker(env);
      bed.children.push(victim);
      await Promise.all([steady.ready, victim.ready]);
      const queues = bed.producer(env);
      const total = 500;
      // Enqueued over about 4 s, as a platform's requests come, while the kills happen.
      const added: Array<{ jobId: string }> = [];
      const enqueueing = (async () => {
        for (let n = 0; n < total; n++) {
          added.push(await queues.enqueue('email/welcome', { userId: `kill-${n}`, email: `kill-${n}@example.com`, firstName: 'K' }));
          if (n % 10 === 9) await sleep(80);
        }
        return added;
      })();
      for (let kill = 0; kill < 3; kill++) {
        // Spread over the enqueueing: a kill after each further 100 jobs.
        await waitFor(() => added.length >= (kill + 1) * 100, {
          timeoutMs: 30_000,
          intervalMs: 10,
          what: `${(kill + 1) * 100} jobs enqueued`,
        });
        victim.child.kill('SIGKILL');
        await victim.exited;
        victim = spawnWorker(env);
        bed.children.push(victim);
        await victim.ready;
      }
      const results = await enqueueing;
      const email = queues.getQueue('email');
      await waitFor(async () => (await email.getJobCounts('completed')).completed === total, {
        timeoutMs: 60_000,
        intervalMs: 250,
        what: 'every job completed',
      }).catch(async (error: Error) => {
        // Seen once in a full run and never alone: say where the missing jobs are.
        const unfinished = await email.getJobs(['active', 'waiting', 'delayed', 'failed'], 0, 4);
        const where = unfinished.map((job) => ({
          id: job.id,
          attemptsMade: job.attemptsMade,
          stalledCounter: job.stalledCounter,
          failedReason: job.failedReason,
        }));
        throw new Error(`${error.message}: ${JSON.stringify(await email.getJobCounts())}, e.g. ${JSON.stringify(where)}`);
      });
      const counts = await mailsPerAddress(outbox.path);
      const twice = [...counts].filter(([, count]) => count > 1);
      const jobs = (await Promise.all(results.map(({ jobId }) => email.getJob(jobId)))) as Job[];
      const byAddress = new Map(jobs.map((job) => [`kill-${job.data.userId.slice(5)}@example.com`, job]));
      console.info(
        `mails ${[...counts.values()].reduce((a, b) => a + b, 0)}, twice: ${JSON.stringify(
          twice.map(([to]) => {
            const job = byAddress.get(to);
            return {
              to,
              stalledCounter: job?.stalledCounter,
              attemptsMade: job?.attemptsMade,
              attemptsStarted: job?.attemptsStarted,
              rv: job?.returnvalue,
            };
          }),
        )}`,
      );
      expect(counts.size).toBe(total);
      expect(twice).toEqual([]);
    } finally {
      await outbox.remove();
    }
  }, 120_000);

  it('killed while PostgreSQL is slow to record the mails: what the killed worker sent is not sent again by the re-run', async () => {
    // Deterministic: the held writes keep every mail the killed worker sent in the window between
    // the send and its record, where the random kills above land only now and then.
    const outbox = await makeTempDir('outbox-slow-record');
    // Holds every write to sent_mails (reads go on) until released: a PostgreSQL under load.
    const holder = new pg.Client({ connectionString: bed.peers.postgres.url });
    await holder.connect();
    try {
      const env = workerEnv(bed.peers, { OUTBOX_DIR: outbox.path });
      delete (env as Record<string, string | undefined>).SMTP_URL;
      const steady = spawnWorker(env);
      const victim = spawnWorker(env);
      bed.children.push(steady, victim);
      await Promise.all([steady.ready, victim.ready]);
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE sent_mails IN EXCLUSIVE MODE');
      const queues = bed.producer(env);
      const total = 20;
      await queues.enqueueBulk(
        'email/welcome',
        Array.from({ length: total }, (_, n) => ({ userId: `slow-record-${n}`, email: `slow-record-${n}@example.com`, firstName: 'S' })),
      );
      // A mail has gone out and its record is held (the wait of an INSERT into sent_mails): then the
      // kill, with whatever the victim has in that window.
      // pg_locks, not pg_stat_activity: the holder is inside its transaction, where PostgreSQL serves
      // pg_stat_activity from the snapshot of its first read (a wait that began later is not in it).
      const waitingWrites = `SELECT pid FROM pg_locks WHERE relation = 'sent_mails'::regclass AND NOT granted`;
      const held = async () => (await holder.query(waitingWrites)).rowCount ?? 0;
      await waitFor(async () => (await held()) >= 1, { timeoutMs: 15_000, what: 'a sent mail whose record is held' });
      victim.child.kill('SIGKILL');
      await victim.exited;
      // The killed worker's writes never reach PostgreSQL (nor, here, the live worker's: those
      // fail and its jobs complete with a warning, as when PostgreSQL refuses a record).
      await holder.query(`SELECT pg_terminate_backend(pid) FROM (${waitingWrites}) AS waiting`);
      await holder.query('COMMIT');
      const email = queues.getQueue('email');
      await waitFor(async () => (await email.getJobCounts('completed')).completed === total, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: 'every job completed',
      });
      const counts = await mailsPerAddress(outbox.path);
      expect(counts.size).toBe(total);
      expect([...counts].filter(([, count]) => count > 1)).toEqual([]);
    } finally {
      await holder.end();
      await outbox.remove();
    }
  }, 60_000);
});

describe('a re-run that finds the record of a send in progress', () => {
  const ctx = { logger: createLogger('silent'), signal: new AbortController().signal, tenant: 'default' };
  const jobOf = (userId: string, run: { attemptsMade: number; stalledCounter: number }, timestamp: number) =>
    ({
      id: `email:welcome:${userId}`,
      name: 'welcome',
      queueName: 'email',
      timestamp,
      data: { userId, email: `${userId}@example.com`, firstName: 'R' },
      updateProgress: async () => {},
      ...run,
    }) as never;

  it('outbox: the killed run wrote the file → not again; it did not → written now under the same Message-ID', async () => {
    const outbox = await makeTempDir('outbox-rerun');
    const mailer = createMailer({ smtpUrl: undefined, outboxDir: outbox.path, from: 'Ceres <no-reply@ceres.example>' });
    try {
      const deps = { mailer, db: bed.db, appUrl: 'https://x.example' };
      // The run of attempt 0 wrote its mail and died before settling the record.
      const wrote = jobOf('rerun-wrote', { attemptsMade: 0, stalledCounter: 0 }, Date.now());
      const key = {
        queue: 'email',
        jobId: 'email:welcome:rerun-wrote',
        jobCreatedAt: new Date((wrote as { timestamp: number }).timestamp),
      };
      const messageId = mailer.newMessageId();
      await bed.db.sentMails.intend({ ...key, messageId, run: { attempt: 0, stalled: 0 } });
      await mailer.send({ to: 'rerun-wrote@example.com', subject: 'W', text: 'w', messageId });
      const again = await welcome({ ...(wrote as object), stalledCounter: 1 } as never, deps, ctx);
      expect(again).toEqual({ sent: true, messageId });
      expect(await bed.db.sentMails.find(key)).toBe(messageId);
      // The run of attempt 0 died before writing it.
      const lost = jobOf('rerun-lost', { attemptsMade: 0, stalledCounter: 0 }, Date.now());
      const lostKey = {
        queue: 'email',
        jobId: 'email:welcome:rerun-lost',
        jobCreatedAt: new Date((lost as { timestamp: number }).timestamp),
      };
      const lostId = mailer.newMessageId();
      await bed.db.sentMails.intend({ ...lostKey, messageId: lostId, run: { attempt: 0, stalled: 0 } });
      expect(await welcome({ ...(lost as object), stalledCounter: 1 } as never, deps, ctx)).toEqual({ sent: true, messageId: lostId });
      expect(await mailsPerAddress(outbox.path)).toEqual(
        new Map([
          ['rerun-wrote@example.com', 1],
          ['rerun-lost@example.com', 1],
        ]),
      );
    } finally {
      mailer.close();
      await outbox.remove();
    }
  });

  it('SMTP: after a run that died mid-send the outcome is unknown: sent again under the same Message-ID (at least once); after a run that ended knowing (a counted failure, a throttling answer), sent', async () => {
    const mailer = createMailer({ smtpUrl: bed.peers.smtp.url, outboxDir: '/nonexistent', from: 'Ceres <no-reply@ceres.example>' });
    try {
      const deps = { mailer, db: bed.db, appUrl: 'https://x.example' };
      const cases = [
        { userId: 'rerun-died', rerun: { attemptsMade: 0, stalledCounter: 1 }, mails: 1 },
        { userId: 'rerun-failed', rerun: { attemptsMade: 1, stalledCounter: 0 }, mails: 1 },
        { userId: 'rerun-throttled', rerun: { attemptsMade: 0, stalledCounter: 0 }, mails: 1 },
      ];
      for (const { userId, rerun, mails } of cases) {
        const timestamp = Date.now();
        await bed.db.sentMails.intend({
          queue: 'email',
          jobId: `email:welcome:${userId}`,
          jobCreatedAt: new Date(timestamp),
          messageId: mailer.newMessageId(),
          run: { attempt: 0, stalled: 0 },
        });
        await welcome(jobOf(userId, rerun, timestamp), deps, ctx);
        await sleep(200);
        expect({
          userId,
          mails: bed.peers.smtp.messages.filter((mail) => mail.envelope.to.includes(`${userId}@example.com`)).length,
        }).toEqual({ userId, mails });
      }
    } finally {
      mailer.close();
    }
  });
});
