import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, waitFor } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { makeFlateBombPdf, makePageTreeBomb, makeZipBombDocx } from './files/hostile';
import { spawnWorker, useTestBed, waitForState, workerEnv } from './helpers/harness';

const bed = useTestBed();

describe('hostile files in the running worker', () => {
  it('each bomb fails its job in under 15 s; the worker keeps its pid and a verify mail sent meanwhile arrives in under 2 s', async () => {
    const uploads = await makeTempDir('hostile-uploads');
    try {
      const bombs = {
        'cvs/u1/page-tree.pdf': makePageTreeBomb(27),
        'cvs/u2/flate.pdf': makeFlateBombPdf(3 * 1024),
        'cvs/u3/zip-bomb.docx': makeZipBombDocx(),
      };
      for (const [key, bytes] of Object.entries(bombs)) {
        await mkdir(path.dirname(path.join(uploads.path, key)), { recursive: true });
        await writeFile(path.join(uploads.path, key), bytes);
      }
      const env = workerEnv(bed.peers, { UPLOADS_DIR: uploads.path });
      const worker = bed.children[bed.children.push(spawnWorker(env)) - 1]!;
      await worker.ready;
      const pid = worker.child.pid;
      const queues = bed.producer(env);
      const token = `hostile-${Date.now()}-verification-token`;
      await bed.db.tokens.insert({ token, userId: 'mail-user', expiresAt: new Date(Date.now() + 3_600_000) });

      const started = Date.now();
      const jobs = await Promise.all(
        Object.keys(bombs).map((fileKey, index) => queues.enqueue('files/validate-cv', { userId: `u${index + 1}`, fileKey })),
      );
      // While the bombs are being inspected.
      await waitFor(
        async () => (await Promise.all(jobs.map(({ jobId }) => queues.getQueue('files').getJobState(jobId)))).includes('active'),
        { what: 'an inspection under way' },
      );
      const mailSent = Date.now();
      await queues.enqueue('email/verify', { userId: 'mail-user', email: 'mail-user@example.com', firstName: 'Mia', token });
      await bed.peers.smtp.waitForMessages(1, 2_000);
      expect(Date.now() - mailSent).toBeLessThan(2_000);

      const reasons: string[] = [];
      for (const { jobId } of jobs) {
        const job = await waitForState(queues.getQueue('files'), jobId, 'failed', 15_000 - (Date.now() - started));
        expect(job.attemptsMade).toBe(1);
        reasons.push(job.failedReason);
      }
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(reasons).toEqual([
        expect.stringMatching(/PDF page tree too deep/),
        expect.stringMatching(/the PDF expands beyond 80 MiB/),
        expect.stringMatching(/the DOCX expands beyond 80 MiB/),
      ]);
      expect(worker.child.pid).toBe(pid);
      expect(worker.child.exitCode).toBeNull();
      expect(worker.child.signalCode).toBeNull();
    } finally {
      await uploads.remove();
    }
  }, 60_000);
});
