import { fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { HostileFileError, UnprocessableImageError } from '../files/errors';
import type { CvVerdict } from '../files/judge-cv';
import type { FileLimits } from '../files/limits';
import type { SandboxReply, SandboxTask } from '../files/sandbox-protocol';
import { formatBytes } from '../files/sizes';

const MIB = 1024 * 1024;
/** What a child with the parsers loaded uses before it reads a byte of the file. */
const BASE_MEMORY_BYTES = 192 * MIB;
/** Module loading, before the wall clock starts; a child not ready by then is the machine's problem. */
const STARTUP_TIMEOUT_MS = 30_000;
const MEMORY_POLL_MS = 50;

/**
 * Runs the parsers of untrusted files in a child process, one per inspection: a hostile file
 * cannot block the worker's event loop, and the child is SIGKILLed at its wall-clock limit or
 * memory cap. Those two end the job with {@link HostileFileError}.
 */
export interface FileSandbox {
  judgeCv(bytes: Uint8Array, limits: Pick<FileLimits, 'cvMaxBytes' | 'cvMaxPages'>, signal: AbortSignal): Promise<CvVerdict>;
  profileWebp(
    fileKey: string,
    input: Uint8Array,
    limits: Pick<FileLimits, 'pictureMaxBytes' | 'pictureMaxPixels'>,
    signal: AbortSignal,
  ): Promise<{ data: Buffer; width: number; height: number }>;
  /** The wall-clock limit of one inspection (`FILES_SANDBOX_TIMEOUT_MS`). */
  readonly timeoutMs: number;
}

/** The memory caps of the sandbox, derived from the file limits. */
export interface SandboxCaps {
  /** What a CV's decompressed streams or parts may reach together: 16 × `CV_MAX_BYTES`. */
  cvMaxExpandedBytes: number;
  /** Resident memory of a CV inspection: 192 MiB + 3 × the expansion budget. */
  cvMemoryBytes: number;
  /** Resident memory of a picture: 192 MiB + 2 × `PROFILE_PICTURE_MAX_BYTES` + 8 bytes × `PROFILE_PICTURE_MAX_PIXELS`. */
  pictureMemoryBytes: number;
}

export function sandboxCaps(limits: Partial<FileLimits>): SandboxCaps {
  const cvMaxExpandedBytes = 16 * (limits.cvMaxBytes ?? 0);
  return {
    cvMaxExpandedBytes,
    cvMemoryBytes: BASE_MEMORY_BYTES + 3 * cvMaxExpandedBytes,
    pictureMemoryBytes: BASE_MEMORY_BYTES + 2 * (limits.pictureMaxBytes ?? 0) + 8 * (limits.pictureMaxPixels ?? 0),
  };
}

/** From the sources (tsx) the child is the .ts beside the parsers; in dist it is its own entry. */
function childEntry(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts'))
    return { path: fileURLToPath(new URL('../files/sandbox-child.ts', import.meta.url)), execArgv: ['--import', 'tsx'] };
  return { path: fileURLToPath(new URL('./sandbox-child.js', import.meta.url)), execArgv: [] };
}

export interface FileSandboxOptions {
  /** Wall-clock limit of one inspection, from the moment the child has loaded its modules. */
  timeoutMs: number;
  /** Lowers every memory cap to at most this (tests); the caps are otherwise derived from the limits. */
  maxMemoryBytes?: number;
}

export function createFileSandbox(options: FileSandboxOptions): FileSandbox {
  const { timeoutMs } = options;
  const cap = (bytes: number) => Math.min(bytes, options.maxMemoryBytes ?? Number.POSITIVE_INFINITY);
  const entry = childEntry();

  const run = (task: SandboxTask, what: string, memoryBytes: number, signal: AbortSignal): Promise<unknown> =>
    new Promise((resolve, reject) => {
      signal.throwIfAborted();
      let child: ChildProcess;
      try {
        child = fork(entry.path, [], {
          // The heap limit is a second guard; the resident-memory poll below also counts buffers.
          execArgv: [...entry.execArgv, `--max-old-space-size=${Math.ceil(memoryBytes / MIB)}`],
          // Nothing of the worker's environment (credentials) is needed to parse a file.
          env: { PATH: process.env.PATH ?? '', ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}) },
          serialization: 'advanced',
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        });
      } catch (error) {
        reject(error);
        return;
      }
      try {
        // Below the worker (nice 10): parsing a file must not take the CPU from the other queues.
        if (child.pid !== undefined) setPriority(child.pid, 10);
      } catch {
        // Not allowed here (some containers): the child runs at the worker's priority.
      }
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('latin1')).slice(-2048);
      });
      let settled = false;
      let killedFor: 'time' | 'memory' | undefined;
      let wallClock: NodeJS.Timeout | undefined;
      const startup = setTimeout(
        () => finish(new Error(`the file sandbox did not start within ${STARTUP_TIMEOUT_MS} ms`)),
        STARTUP_TIMEOUT_MS,
      );
      const poll = setInterval(() => {
        void residentBytes(child.pid).then((bytes) => {
          if (!settled && bytes !== undefined && bytes > memoryBytes) kill('memory');
        });
      }, MEMORY_POLL_MS);
      const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });

      function kill(reason: 'time' | 'memory') {
        killedFor ??= reason;
        child.kill('SIGKILL');
      }
      function finish(outcome: Error | { value: unknown }) {
        if (settled) return;
        settled = true;
        clearTimeout(startup);
        clearTimeout(wallClock);
        clearInterval(poll);
        signal.removeEventListener('abort', onAbort);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome.value);
      }

      child.on('message', (message: { ready: true } | SandboxReply) => {
        if ('ready' in message) {
          clearTimeout(startup);
          wallClock = setTimeout(() => kill('time'), timeoutMs);
          child.send(task);
          return;
        }
        if (message.ok) finish({ value: message.result });
        else finish(fromChild(message.error));
      });
      child.on('error', (error) => finish(error));
      child.on('exit', (code, exitSignal) => {
        if (killedFor === 'time') {
          finish(new HostileFileError(`the ${what} took longer than ${timeoutMs} ms to inspect; the file is refused`));
        } else if (killedFor === 'memory' || /heap out of memory|Reached heap limit/.test(stderr)) {
          finish(
            new HostileFileError(`the ${what} expands beyond ${formatBytes(memoryBytes)} of memory while inspected; the file is refused`),
          );
        } else {
          // Killed from outside (the machine's OOM killer, an operator): retryable.
          finish(new Error(`the file sandbox exited before answering (${exitSignal ?? `code ${code}`})`));
        }
      });
    });

  return {
    timeoutMs,
    async judgeCv(bytes, limits, signal) {
      const caps = sandboxCaps(limits);
      const task: SandboxTask = { kind: 'cv', bytes, limits: { maxPages: limits.cvMaxPages, maxExpandedBytes: caps.cvMaxExpandedBytes } };
      return (await run(task, 'CV', cap(caps.cvMemoryBytes), signal)) as CvVerdict;
    },
    async profileWebp(fileKey, input, limits, signal) {
      const caps = sandboxCaps(limits);
      const task: SandboxTask = { kind: 'picture', fileKey, input, maxPixels: limits.pictureMaxPixels };
      const result = (await run(task, 'picture', cap(caps.pictureMemoryBytes), signal)) as {
        data: Uint8Array;
        width: number;
        height: number;
      };
      return { ...result, data: Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength) };
    },
  };
}

function fromChild(error: { name: string; message: string; fileKey?: string; reason?: string }): Error {
  if (error.name === 'HostileFileError') return new HostileFileError(error.message);
  if (error.name === 'UnprocessableImageError') return new UnprocessableImageError(error.fileKey ?? '', error.reason ?? error.message);
  return new Error(error.message);
}

/** Resident set size from /proc (Linux); undefined elsewhere, where only the heap limit applies. */
async function residentBytes(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'latin1');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}
