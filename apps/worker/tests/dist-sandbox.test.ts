import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '@ceres/testing';
import { expect, it } from 'vitest';
import { makePdf } from './files/fixtures';
import { makePageTreeBomb } from './files/hostile';
import { ROOT, useTestBed, waitForState, workerEnv } from './helpers/harness';

const bed = useTestBed();

// The build runs the file sandbox from its own entry (dist/sandbox-child.js); needs `npm run build`.
it('the built worker (dist/main.js) inspects files in dist/sandbox-child.js', async () => {
  const uploads = await makeTempDir('dist-uploads');
  await mkdir(path.join(uploads.path, 'cvs'), { recursive: true });
  await writeFile(path.join(uploads.path, 'cvs/bomb.pdf'), makePageTreeBomb(27));
  await writeFile(path.join(uploads.path, 'cvs/ok.pdf'), await makePdf(2));
  const env = workerEnv(bed.peers, { UPLOADS_DIR: uploads.path });
  const child = spawn(process.execPath, ['apps/worker/dist/main.js'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
  try {
    const queues = bed.producer(env);
    const bomb = await queues.enqueue('files/validate-cv', { userId: 'u', fileKey: 'cvs/bomb.pdf' });
    const ok = await queues.enqueue('files/validate-cv', { userId: 'u', fileKey: 'cvs/ok.pdf' });
    const failed = await waitForState(queues.getQueue('files'), bomb.jobId, 'failed', 20_000);
    expect(failed.failedReason).toMatch(/PDF page tree too deep/);
    const done = await waitForState(queues.getQueue('files'), ok.jobId, 'completed', 20_000);
    expect(done.returnvalue).toEqual({ valid: true, type: 'pdf', pages: 2, problems: [] });
  } finally {
    child.kill('SIGKILL');
    await uploads.remove();
  }
}, 60_000);
