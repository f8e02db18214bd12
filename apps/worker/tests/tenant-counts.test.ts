// The worker counts the jobs completed and failed for good per tenant (issue 26, item 6) and adds
// its counts to Redis, where queues-ui's /metrics reads them (ceres_queue_tenant_jobs_*_total).
import { makeTempDir, waitFor } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app';
import { createLogger } from '../src/deps/logger';
import { configFor, waitForState, workerEnv, useTestBed } from './helpers/harness';

const bed = useTestBed();

describe('per-tenant job counts', () => {
  it('count completed and failed-for-good jobs by the tenant in their data, added to Redis when the worker stops', async () => {
    const uploads = await makeTempDir('uploads');
    const env = workerEnv(bed.peers, { UPLOADS_DIR: uploads.path });
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
    bed.apps.push(app);
    await app.started;
    const queues = bed.producer(env);
    const done = [
      await queues.enqueue('slack/alert', { text: 'for a, numbered' }, { tenant: 'a' }),
      await queues.enqueue('slack/alert', { text: 'for a, keyed', dedupeKey: 'k1' }, { tenant: 'a' }),
      await queues.enqueue('slack/alert', { text: 'for default' }),
    ];
    for (const { jobId } of done) await waitForState(queues.getQueue('slack'), jobId, 'completed');
    // No such file: the job fails for good at once.
    const { jobId } = await queues.enqueue('files/validate-cv', { userId: 'u-1', fileKey: 'cv/none.pdf' }, { tenant: 'b' });
    await waitForState(queues.getQueue('files'), jobId, 'failed');
    // Its dead-letter alert is a slack job of tenant b too.
    const alerted = () => bed.peers.slack.requests.some((request) => (request.body as { text: string }).text.includes('failed for good'));
    await waitFor(alerted, { timeoutMs: 15_000, what: 'the dead-letter alert' });
    await app.stop();

    const counts = async (queue: 'slack' | 'files', outcome: 'completed' | 'failed') =>
      Object.fromEntries(await queues.store.tenantCounts(queues.getQueue(queue), outcome));
    expect(await counts('slack', 'completed')).toEqual({ a: 2, default: 1, b: 1 });
    expect(await counts('slack', 'failed')).toEqual({});
    expect(await counts('files', 'failed')).toEqual({ b: 1 });
    await uploads.remove();
  }, 40_000);
});
