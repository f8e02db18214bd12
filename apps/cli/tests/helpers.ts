import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createDb, type Db } from '@ceres/db';
import { createRedisConnection, loadQueuesConfig, QueueClient } from '@ceres/queues';
import { UnrecoverableError, Worker } from 'bullmq';
import {
  makeTempDir,
  sharedPostgres,
  sharedRedis,
  startHttpReceiver,
  startSmtpSink,
  TEST_ENCRYPTION_KEYS,
  waitFor,
  type HttpReceiver,
  type PostgresPeer,
  type RedisPeer,
  type SmtpSink,
} from '@ceres/testing';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { Io } from '../src/output';
import { run } from '../src/program';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Peers {
  redis: RedisPeer;
  postgres: PostgresPeer;
  smtp: SmtpSink;
  slack: HttpReceiver;
}

export interface Bed {
  peers: Peers;
  db: Db;
  /** A directory with no .env, the CLI's working directory. */
  cwd: string;
  /** A fresh Redis prefix per test: every test sees empty queues. */
  env: Record<string, string>;
  producer(): QueueClient;
}

/** The run's Redis (a prefix per test) and PostgreSQL (a migrated database of its own), an SMTP sink and Slack stand-in for one test file. */
export function useBed(): Bed {
  const bed = {} as Bed;
  const producers: QueueClient[] = [];
  let removeDir: () => Promise<void> = async () => {};
  beforeAll(async () => {
    const [postgres, smtp, slack, dir] = await Promise.all([sharedPostgres(), startSmtpSink(), startHttpReceiver(), makeTempDir('cli')]);
    bed.peers = { redis: sharedRedis(), postgres, smtp, slack };
    bed.db = createDb(postgres.url);
    bed.cwd = dir.path;
    removeDir = () => dir.remove();
  }, 60_000);
  beforeEach(() => {
    bed.env = envFor(bed.peers);
  });
  bed.producer = () => {
    const client = new QueueClient({ config: loadQueuesConfig(bed.env), connectionName: 'test-producer', allowReservedKeys: true });
    producers.push(client);
    return client;
  };
  afterEach(async () => {
    await Promise.all(producers.splice(0).map((client) => client.close()));
    bed.peers.smtp.setRules([]);
    bed.peers.smtp.messages.length = 0;
    bed.peers.slack.requests.length = 0;
    bed.peers.slack.setDelay(0);
    await bed.db.pool.query('DELETE FROM failed_jobs');
  });
  afterAll(async () => {
    await bed.db?.close();
    await Promise.allSettled([bed.peers?.postgres.close(), bed.peers?.smtp.close(), bed.peers?.slack.close()]);
    await removeDir();
  });
  return bed;
}

/** The environment of the CLI (and of the worker `work` runs) for these peers. */
export function envFor(peers: Peers, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    REDIS_URL: peers.redis.url,
    REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:`,
    DATABASE_URL: peers.postgres.url,
    // The worker `work` runs decrypts the jobs; replays from the archive encrypt again.
    JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    SMTP_URL: peers.smtp.url,
    SLACK_WEBHOOK_URL: `${peers.slack.url}/hook`,
    APP_URL: 'https://ceres.example',
    UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret-0123456789',
    LOG_LEVEL: 'warn',
    WORKER_LOCK_DURATION_MS: '2000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    ...extra,
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process, with its output captured (`stdinTty` pretends a terminal). */
export async function cli(
  env: Record<string, string>,
  args: string[],
  options: { input?: string; stdinTty?: boolean } = {},
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (options.stdinTty) stdin.isTTY = true;
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString()));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()));
  if (options.input !== undefined) stdin.end(options.input);
  const io = { stdout, stderr, stdin } as unknown as Io;
  const code = await run(args, io, env);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** `cli` with `--json`, parsed. */
export async function cliJson<T = Record<string, unknown>>(env: Record<string, string>, args: string[]): Promise<T> {
  const result = await cli(env, [...args, '--json']);
  if (result.code !== 0) throw new Error(`ceres-jobs ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** The real bin (`apps/cli/bin/ceres-jobs.js`, the build) in a child process. Needs `npm run build`. */
export function spawnCli(env: Record<string, string>, args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${ROOT}apps/cli/bin/ceres-jobs.js`, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: string[] = [];
    const err: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout: out.join(''), stderr: err.join('') }));
  });
}

/** Fails the next `count` jobs of slack for good (a real BullMQ worker that refuses them), then stops. */
export async function failSlackJobs(env: Record<string, string>, count: number): Promise<void> {
  const config = loadQueuesConfig(env);
  const connection = createRedisConnection(config, 'worker');
  connection.on('error', () => {});
  let failed = 0;
  const worker = new Worker(
    'slack',
    async () => {
      throw new UnrecoverableError('refused');
    },
    { connection, prefix: config.bullPrefix },
  );
  worker.on('failed', () => failed++);
  await waitFor(() => failed >= count, { what: `${count} failed jobs` });
  await worker.close();
  connection.disconnect();
}
