import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@ceres/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createWorkerApp, type WorkerApp } from '../src/app';
import { createLogger } from '../src/deps/logger';
import { makePdf, makePng } from './files/fixtures';
import { configFor, startPeers, waitForState, workerEnv, type Peers } from './helpers/harness';

// The files processors wired into the worker app: enqueued by a producer, run by the app's own
// Worker for the `files` queue, with the file store built from UPLOADS_DIR at startup.
let peers: Peers;
let app: WorkerApp;
let uploads: Awaited<ReturnType<typeof makeTempDir>>;

beforeAll(async () => {
  peers = await startPeers();
  uploads = await makeTempDir('uploads');
  app = createWorkerApp({
    config: configFor(workerEnv(peers, { UPLOADS_DIR: uploads.path, CV_MAX_PAGES: '3' })),
    logger: createLogger('silent'),
  });
  await app.started;
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await peers?.close();
  await uploads?.remove();
});

it('consumes the files queue with the registered processors and the configured limits', async () => {
  expect(app.runner.queues).toContain('files');
  await mkdir(join(uploads.path, 'cv'), { recursive: true });
  await writeFile(join(uploads.path, 'cv/short.pdf'), await makePdf(2));
  await writeFile(join(uploads.path, 'cv/long.pdf'), await makePdf(4));
  await writeFile(join(uploads.path, 'cv/avatar.png'), await makePng(300, 200));
  const queues = app.deps.queues;
  const short = await queues.enqueue('files/validate-cv', { userId: 'u1', fileKey: 'cv/short.pdf' });
  const long = await queues.enqueue('files/validate-cv', { userId: 'u1', fileKey: 'cv/long.pdf' });
  const picture = await queues.enqueue('files/optimize-profile-picture', { userId: 'u1', fileKey: 'cv/avatar.png' });
  const escape = await queues.enqueue('files/validate-cv', { userId: 'u1', fileKey: '../outside.pdf' });
  const filesQueue = queues.getQueue('files');

  expect((await waitForState(filesQueue, short.jobId, 'completed')).returnvalue).toMatchObject({ valid: true, type: 'pdf', pages: 2 });
  // CV_MAX_PAGES=3 from the environment reached the processor.
  expect((await waitForState(filesQueue, long.jobId, 'completed')).returnvalue).toMatchObject({ valid: false, pages: 4 });
  expect((await waitForState(filesQueue, picture.jobId, 'completed')).returnvalue).toMatchObject({
    outputKey: 'cv/avatar.webp',
    width: 512,
    height: 512,
  });
  const refused = await waitForState(filesQueue, escape.jobId, 'failed');
  expect(refused.attemptsMade).toBe(1);
});

it('checks a CV again when it is re-uploaded under the same key after its check finished (window: pending)', async () => {
  await mkdir(join(uploads.path, 'cv'), { recursive: true });
  await writeFile(join(uploads.path, 'cv/again.pdf'), await makePdf(5));
  const queues = app.deps.queues;
  const filesQueue = queues.getQueue('files');
  const first = await queues.enqueue('files/validate-cv', { userId: 'u2', fileKey: 'cv/again.pdf' });
  expect(first).toEqual({ jobId: 'files:validate-cv:cv/again.pdf', duplicate: false });
  expect((await waitForState(filesQueue, first.jobId, 'completed')).returnvalue).toMatchObject({ valid: false, pages: 5 });

  // The user uploads a shorter CV under the same key: the finished job is replaced and runs again.
  await writeFile(join(uploads.path, 'cv/again.pdf'), await makePdf(1));
  const second = await queues.enqueue('files/validate-cv', { userId: 'u2', fileKey: 'cv/again.pdf' });
  expect(second).toEqual({ jobId: first.jobId, duplicate: false });
  expect((await waitForState(filesQueue, second.jobId, 'completed')).returnvalue).toMatchObject({ valid: true, pages: 1 });
});
