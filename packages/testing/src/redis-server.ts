import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './free-port';
import { makeTempDir } from './temp-dir';
import { waitFor } from './wait-for';

export interface RedisServerOptions {
  /** Turn on the append-only file, for tests that restart Redis and expect data to survive. */
  appendOnly?: boolean;
  /** More `redis-server` arguments, e.g. `['--replicaof', '127.0.0.1', '6400']`. */
  args?: string[];
}

export interface RedisServer {
  port: number;
  /** `redis://127.0.0.1:<port>` — no database path, so apps fall back to DB 5. */
  url: string;
  /** The `REDIS_PREFIX` of {@link env}: `ceres:` (the server is this file's alone). */
  prefix: string;
  /** Environment for the apps: `REDIS_URL` and a `REDIS_PREFIX` unique to this server. */
  env: Record<string, string>;
  /** Stops Redis (SHUTDOWN, keeping the AOF when on). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  start(): Promise<void>;
  /** Kills the process with SIGKILL (a crash: no shutdown, no final save). */
  kill(): Promise<void>;
  /** Stops it for good and removes its data dir. */
  close(): Promise<void>;
}

/**
 * Starts a real `redis-server` from PATH on 127.0.0.1 on a free port with its own temp dir.
 * Never touches a Redis already running on 6379.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await makeTempDir('redis');
  const port = await freePort();
  let child: ChildProcess | undefined;

  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir.path,
    '--save',
    '',
    '--appendonly',
    options.appendOnly ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    '--logfile',
    '',
    ...(options.args ?? []),
  ];

  const start = async () => {
    const output: string[] = [];
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const spawnError = new Promise<never>((_, reject) => {
      child!.once('error', (error) => reject(new Error(`could not start redis-server (is it installed and on PATH?): ${error.message}`)));
    });
    await Promise.race([
      spawnError,
      waitFor(() => ping(port), { timeoutMs: 10_000, what: `redis-server on port ${port}` }).catch((error) => {
        throw new Error(`${(error as Error).message}\n${output.join('')}`);
      }),
    ]);
  };

  const stopWith = async (signal: NodeJS.Signals) => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await exited;
  };
  const stop = () => stopWith('SIGTERM');

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    prefix: 'ceres:',
    env: { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: 'ceres:' },
    stop,
    start,
    kill: () => stopWith('SIGKILL'),
    close: async () => {
      await stop();
      await dir.remove();
    },
  };
}

/** True when something on the port answers PING with PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
