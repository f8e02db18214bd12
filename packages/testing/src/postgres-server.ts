import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port';
import { makeTempDir } from './temp-dir';
import { waitFor } from './wait-for';

export interface PostgresServer {
  port: number;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust auth, loopback only). */
  url: string;
  /** Environment for the apps: `DATABASE_URL`. */
  env: { DATABASE_URL: string };
  /** Creates another empty database on this server and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown), keeping its data dir: an outage. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  start(): Promise<void>;
  /** Stops the server (fast shutdown) and removes its data dir. */
  close(): Promise<void>;
}

export interface PostgresServerOptions {
  /** @defaultValue `ceres_test` */
  database?: string;
}

/** The directory holding initdb/postgres: on PATH, or Debian's /usr/lib/postgresql/<v>/bin. */
export function findPostgresBinDir(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, 'postgres');
    if (dir && existsSync(candidate) && existsSync(join(dir, 'initdb'))) return dirname(realpathSync(candidate));
  }
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
    const found = versions.map((v) => join(base, v, 'bin')).find((dir) => existsSync(join(dir, 'postgres')));
    if (found) return found;
  }
  throw new Error('PostgreSQL server binaries (initdb, postgres) not found; install the postgresql package');
}

/**
 * Starts a real PostgreSQL on 127.0.0.1 on a free port, with a fresh cluster in a temp dir and one
 * empty database. PostgreSQL refuses to run as root, so as root the cluster belongs to the
 * `postgres` system user and the programs run through `runuser`.
 */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const bin = findPostgresBinDir();
  const dir = await makeTempDir('postgres');
  const dataDir = join(dir.path, 'data');
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const command = (program: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];

  if (asRoot) {
    let uid: number;
    let gid: number;
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
      gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    } catch {
      throw new Error('running as root needs the "postgres" system user (the postgresql package creates it)');
    }
    chownSync(dir.path, uid, gid);
  }

  const [initCmd, initArgs] = command('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-locale']);
  try {
    execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  } catch (error) {
    await dir.remove();
    const output = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`initdb failed: ${(error as Error).message}\n${output}`, { cause: error });
  }

  const port = await freePort();
  const [cmd, args] = command('postgres', [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-k',
    dir.path,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
  ]);
  let child: ChildProcess;
  let exited: Promise<void>;
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;

  const launch = async () => {
    const output: string[] = [];
    child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const current = child;
    exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    try {
      await waitFor(
        async () => {
          if (current.exitCode !== null) throw new Error('postgres exited');
          const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 1000 });
          try {
            await client.connect();
            await client.query('SELECT 1');
            return true;
          } finally {
            await client.end().catch(() => {});
          }
        },
        { timeoutMs: 20_000, intervalMs: 100, what: `postgres on port ${port}` },
      );
    } catch (error) {
      current.kill('SIGKILL');
      await exited;
      throw new Error(`${(error as Error).message}\n${output.join('')}`, { cause: error });
    }
  };

  const shutdown = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit. As root
      // `child` is runuser, so signal the postmaster itself (its pid heads postmaster.pid).
      const postmaster = postmasterPid(dataDir);
      if (postmaster !== undefined) process.kill(postmaster, 'SIGINT');
      else child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };

  try {
    await launch();
  } catch (error) {
    await dir.remove();
    throw error;
  }

  const createDatabase = async (name: string) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid database name "${name}"`);
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    return `postgres://postgres@127.0.0.1:${port}/${name}`;
  };

  const url = await createDatabase(options.database ?? 'ceres_test');
  return {
    port,
    url,
    env: { DATABASE_URL: url },
    createDatabase,
    stop: shutdown,
    start: launch,
    close: async () => {
      await shutdown();
      await dir.remove();
    },
  };
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
