import { Writable } from 'node:stream';
import { waitFor } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app';
import { createLogger } from '../src/deps/logger';
import { configFor, waitForState, workerEnv, useTestBed } from './helpers/harness';

const bed = useTestBed();

/** A logger at `level` whose JSON lines are kept in `lines`. */
function capturingLogger(level: 'info' | 'debug') {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger(level, destination), lines, raw };
}

describe('worker logs', () => {
  it.each(['info', 'debug'] as const)(
    'at %s: one activity line per queue and interval; per-job lines only at debug; no personal data',
    async (level) => {
      const env = workerEnv(bed.peers, { WORKER_ACTIVITY_LOG_MS: '300' });
      const { logger, lines, raw } = capturingLogger(level);
      const app = createWorkerApp({ config: configFor(env), logger });
      bed.apps.push(app);
      await app.started;
      const queues = bed.producer(env);
      const jobs = await Promise.all(
        ['a', 'b', 'c'].map((n) =>
          queues.enqueue('email/welcome', { userId: `log-${level}-${n}`, email: `secret-${n}@example.com`, firstName: 'Zoë' }),
        ),
      );
      for (const { jobId } of jobs) await waitForState(queues.getQueue('email'), jobId, 'completed');
      // The three may fall into one interval or two.
      const activityLines = () => lines.filter((line) => line.msg === 'queue activity' && line.queue === 'email');
      await waitFor(() => activityLines().reduce((sum, line) => sum + Number(line.completed), 0) === 3, {
        what: 'activity lines for 3 jobs',
      });
      for (const line of activityLines()) {
        expect(line).toMatchObject({ level: 30, failed: 0 });
        expect(line.maxDurationMs).toEqual(expect.any(Number));
      }
      expect(activityLines().length).toBeLessThanOrEqual(2);
      const perJob = lines.filter((line) => line.msg === 'job completed');
      expect(perJob).toHaveLength(level === 'debug' ? 3 : 0);
      if (level === 'debug') expect(perJob.map((line) => line.jobId).sort()).toEqual(jobs.map((job) => job.jobId).sort());
      expect(raw.join('\n')).not.toMatch(/secret-[abc]@example\.com|Zoë/);
    },
  );
});
