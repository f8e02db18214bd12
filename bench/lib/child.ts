import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** tsx resolves @ceres/* to their TypeScript sources through this file's `paths`. */
export const TSCONFIG = 'bench/tsconfig.json';

export interface Child {
  process: ChildProcess;
  /** Resolves with the next IPC message whose `type` is `type`. */
  next<T = Record<string, unknown>>(type: string, timeoutMs?: number): Promise<T>;
  send(message: Record<string, unknown>): void;
  /** SIGKILL unless it has exited; resolves once it has. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  stderr(): string;
}

/**
 * A TypeScript entry point in its own Node process (`node --import tsx`), with an IPC channel.
 * Its stdout goes to /dev/null: the apps log at their default level as in production, and the
 * cost of formatting the lines stays in the measurement, but no pipe back-pressure is added.
 */
export function spawnTs(script: string, env: Record<string, string>, options: { stdout?: 'ignore' | 'inherit' } = {}): Child {
  return spawnNode([], script, env, options);
}

/**
 * An app as PM2 runs it in production: its tsup build (`npm run bench` builds first), with the
 * ecosystem's `node_args` and `env_production`.
 */
export function spawnDeployed(appName: string, env: Record<string, string>): Child {
  const app = ecosystem.apps.find((entry) => entry.name === appName);
  if (!app) throw new Error(`no app ${appName} in ecosystem.config.js`);
  return spawnNode(app.node_args ?? [], app.script, { ...app.env_production, ...env });
}

const ecosystem = createRequire(import.meta.url)('../../ecosystem.config.js') as {
  apps: Array<{ name: string; script: string; node_args?: string[]; env_production?: Record<string, string> }>;
};

function spawnNode(
  nodeArgs: string[],
  script: string,
  env: Record<string, string>,
  options: { stdout?: 'ignore' | 'inherit' } = {},
): Child {
  // BENCH_PROFILE: every child runs under lib/profiled.ts, which profiles on request (see profileRound).
  const profiling = Boolean(process.env.BENCH_PROFILE);
  const tsx = profiling || script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const entry = profiling ? 'bench/lib/profiled.ts' : script;
  const child = spawn(process.execPath, [...tsx, ...nodeArgs, entry], {
    cwd: ROOT,
    env: { ...process.env, ...env, TSX_TSCONFIG_PATH: TSCONFIG, BENCH_PROFILE_TARGET: `../../${script}` },
    stdio: ['ignore', options.stdout ?? 'ignore', 'pipe', 'ipc'],
  });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    next<T>(type: string, timeoutMs = 120_000) {
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => done(new Error(`timed out after ${timeoutMs} ms waiting for "${type}" from ${script}\n${errors}`)),
          timeoutMs,
        );
        const onMessage = (message: unknown) => {
          const m = message as { type?: unknown } | string;
          if (m === type || (typeof m === 'object' && m !== null && m.type === type)) done(undefined, m as T);
        };
        const onExit = (code: number | null) => done(new Error(`${script} exited (code ${code}) while waiting for "${type}":\n${errors}`));
        const done = (error?: Error, value?: T) => {
          clearTimeout(timer);
          child.off('message', onMessage).off('exit', onExit);
          if (error) reject(error);
          else resolve(value!);
        };
        child.on('message', onMessage).once('exit', onExit);
      });
    },
    send(message) {
      child.send(message);
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    stderr: () => errors,
  };
}

/** Resident set size of a process in MiB, read from /proc (Linux). */
export async function rssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** CPU time (user + system) a process has used so far, in ms, read from /proc (Linux, 100 Hz ticks). */
export async function cpuMs(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * With `BENCH_PROFILE=<dir>`, wraps one measured round of `child` in a V8 CPU profile written to
 * `<dir>/<name>.cpuprofile` (open it in Chrome DevTools or speedscope); without it, just runs `fn`.
 */
export async function profileRound<T>(child: Child, name: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_PROFILE;
  if (!dir) return fn();
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  const started = child.next('profile-started');
  child.send({ type: 'profile-start' });
  await started;
  const result = await fn();
  const written = child.next('profile-written');
  child.send({ type: 'profile-stop', file: `${dir}/${name}.cpuprofile` });
  await written;
  return result;
}
