import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '@ceres/testing';
import type { JobProgress } from 'bullmq';
import pino from 'pino';
import { createFileSandbox } from '../../src/deps/file-sandbox';
import { createFileStore, type FileStore } from '../../src/deps/file-store';
import type { AttemptContext, ProcessorJob } from '../../src/processors/types';

export const silentLogger = pino({ level: 'silent' });

/** The real file sandbox (child processes), with the worker's default wall-clock limit. */
export const fileSandbox = createFileSandbox({ timeoutMs: 10_000 });

/** A plain job object, as the processor contract allows, recording every progress report. */
export function makeJob<Payload>(name: string, data: Payload): { job: ProcessorJob<Payload>; progress: JobProgress[] } {
  const progress: JobProgress[] = [];
  const job: ProcessorJob<Payload> = {
    id: randomUUID(),
    name,
    queueName: 'files',
    data,
    attemptsMade: 0,
    timestamp: Date.now(),
    updateProgress: async (value: JobProgress) => {
      progress.push(value);
    },
  };
  return { job, progress };
}

export interface Uploads {
  /** A temp folder that holds `uploads/` (UPLOADS_DIR) and `outside/` (a sibling to escape to). */
  base: string;
  dir: string;
  outside: string;
  store: FileStore;
  /** Writes a file under UPLOADS_DIR, creating folders, and returns its key. */
  put(key: string, content: Uint8Array | string): Promise<string>;
  remove(): Promise<void>;
}

export async function makeUploads(): Promise<Uploads> {
  const temp = await makeTempDir('uploads');
  const dir = path.join(temp.path, 'uploads');
  const outside = path.join(temp.path, 'outside');
  await mkdir(dir);
  await mkdir(outside);
  return {
    base: temp.path,
    dir,
    outside,
    store: createFileStore(dir),
    async put(key, content) {
      const target = path.join(dir, key);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, content);
      return key;
    },
    remove: temp.remove,
  };
}

/** Awaits a promise that must reject and returns what it rejected with. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** An attempt's context for a processor called directly: a silent logger and a signal never aborted unless given. */
export function attemptContext(signal: AbortSignal = new AbortController().signal): AttemptContext {
  return { logger: silentLogger, signal, tenant: 'default' };
}
