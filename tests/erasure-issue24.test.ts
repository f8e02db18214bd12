import { eraseUserData } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
import { useTestBed, workerEnv } from '../apps/worker/tests/helpers/harness';

// Issue 24: what an erasure left behind, against real Redis and PostgreSQL.
const bed = useTestBed();
const log = { info: () => {} };

describe('erasure (issue 24)', () => {
  it('item 16: erases the sent_mails records whose job id names the user, and only theirs', async () => {
    const producer = bed.producer(workerEnv(bed.peers));
    const at = new Date(Date.UTC(2026, 11, 1));
    const target = 'sent-16';
    for (const jobId of [`email:verify:${target}`, `email:welcome:${target}`, `newsletter:send:0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b.${target}`, `email:welcome:${target}x`, `email:welcome:x${target}`]) {
      await bed.db.sentMails.record({ queue: jobId.split(':')[0]!, jobId, jobCreatedAt: at, messageId: '<m@ceres>' });
    }
    const counts = await eraseUserData({ client: producer, db: bed.db, log }, target);
    expect(counts.sentMails).toBe(3);
    const { rows } = await bed.db.pool.query<{ job_id: string }>('SELECT job_id FROM sent_mails ORDER BY job_id');
    expect(rows.map((row) => row.job_id)).toEqual([`email:welcome:${target}x`, `email:welcome:x${target}`]);
    // A user id with regular-expression characters matches itself only.
    await bed.db.sentMails.record({ queue: 'email', jobId: 'email:welcome:a.b(c)*é', jobCreatedAt: at, messageId: '<m@ceres>' });
    await bed.db.sentMails.record({ queue: 'email', jobId: 'email:welcome:aXb(c)*é', jobCreatedAt: at, messageId: '<m@ceres>' });
    expect((await eraseUserData({ client: producer, db: bed.db, log }, 'a.b(c)*é')).sentMails).toBe(1);
    expect(await bed.db.sentMails.find({ queue: 'email', jobId: 'email:welcome:aXb(c)*é', jobCreatedAt: at })).toBe('<m@ceres>');
  });
});
