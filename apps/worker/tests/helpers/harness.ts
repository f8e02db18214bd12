import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createDb, migrate, type Db } from '@ceres/db';
import { loadQueuesConfig, QueueClient, type QueuesConfig } from '@ceres/queues';
import { withTimeout } from '@ceres/app-kit';
import {
  sharedPostgres,
  sharedRedis,
  startHttpReceiver,
  startPostgresServer,
  startRedisServer,
  startSmtpSink,
  waitFor,
  type HttpReceiver,
  type PostgresPeer,
  type PostgresServer,
  type RedisPeer,
  type RedisServer,
  type SmtpSink,
  TEST_ENCRYPTION_KEYS,
} from '@ceres/testing';
import type { Job, Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { createWorkerApp, type WorkerApp } from '../../src/app';
import { createLogger } from '../../src/deps/logger';
import { loadWorkerConfig, type WorkerConfig } from '../../src/config';

export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * Redis, PostgreSQL (migrated), SMTP sink and Slack stand-in, for one test file: by default its
 * share of the run's Redis (a key prefix) and PostgreSQL (a database of its own).
 */
export interface Peers {
  redis: RedisPeer;
  postgres: PostgresPeer;
  smtp: SmtpSink;
  slack: HttpReceiver;
  close(): Promise<void>;
}

/** Peers with a Redis and a PostgreSQL of the file's own, for tests that stop or kill them. */
export interface OwnPeers extends Peers {
  redis: RedisServer;
  postgres: PostgresServer;
}

export interface PeerOptions {
  /** Start a Redis and a PostgreSQL for this file alone (tests that stop, restart or kill them). */
  ownServers?: boolean;
  /** With `ownServers`: Redis with its append-only file, for tests that restart it. */
  redisAppendOnly?: boolean;
}

export async function startPeers(options: PeerOptions & { ownServers: true }): Promise<OwnPeers>;
export async function startPeers(options?: PeerOptions): Promise<Peers>;
export async function startPeers(options: PeerOptions = {}): Promise<Peers> {
  if (options.ownServers) {
    const [redis, postgres, smtp, slack] = await Promise.all([
      startRedisServer({ appendOnly: options.redisAppendOnly }),
      startPostgresServer(),
      startSmtpSink(),
      startHttpReceiver(),
    ]);
    await migrate(postgres.url);
    return {
      redis,
      postgres,
      smtp,
      slack,
      close: async () => {
        await Promise.allSettled([redis.close(), postgres.close(), smtp.close(), slack.close()]);
      },
    };
  }
  const [postgres, smtp, slack] = await Promise.all([sharedPostgres(), startSmtpSink(), startHttpReceiver()]);
  return {
    redis: sharedRedis(),
    postgres,
    smtp,
    slack,
    close: async () => {
      await Promise.allSettled([postgres.close(), smtp.close(), slack.close()]);
    },
  };
}

/** The worker's environment for these peers, with a Redis prefix of its own. */
export function workerEnv(peers: Peers, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: peers.redis.url,
    JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:`,
    DATABASE_URL: peers.postgres.url,
    SMTP_URL: peers.smtp.url,
    SLACK_WEBHOOK_URL: `${peers.slack.url}/hook`,
    APP_URL: 'https://ceres.example',
    UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret-0123456789',
    LOG_LEVEL: 'silent',
    // Short locks so a killed worker's job is taken over within seconds, not 30 s.
    WORKER_LOCK_DURATION_MS: '2000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    // Slack's real 1/s would make every test with a few alerts slow; the rate's own tests set it.
    SLACK_RATE_PER_SECOND: '1000',
    ...extra,
  };
}

export function configFor(env: Record<string, string>): WorkerConfig {
  return loadWorkerConfig(env);
}

export function producerFor(env: Record<string, string>): QueueClient {
  const config: QueuesConfig = loadQueuesConfig(env);
  return new QueueClient({ config, connectionName: 'test-producer' });
}

/**
 * Drives a job through the real retry schedule without waiting minutes: each time the worker
 * puts it in the delayed set (with the delay its backoff strategy chose), promote it.
 */
export async function promoteUntilFinished(queue: Queue, jobId: string, timeoutMs = 30_000): Promise<Job> {
  return waitFor(
    async () => {
      const state = await queue.getJobState(jobId);
      if (state === 'failed' || state === 'completed') return queue.getJob(jobId);
      if (state === 'delayed') await (await queue.getJob(jobId))?.promote().catch(() => {});
      return undefined;
    },
    { timeoutMs, intervalMs: 50, what: `job ${jobId} to finish` },
  );
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  ready: Promise<void>;
}

/** `apps/worker/src/main.ts` in a child process, from the TypeScript sources (no build needed). */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      LOG_LEVEL: env.LOG_LEVEL === 'silent' ? 'info' : (env.LOG_LEVEL ?? 'info'),
      TSX_TSCONFIG_PATH: 'apps/worker/tsconfig.json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  let buffer = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'worker ready') onReady();
      } catch {
        stderr.push(line);
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const readyOrExit = Promise.race([
    ready,
    exited.then(({ code }) => {
      throw new Error(`worker exited (code ${code}) before it was ready:\n${stderr.join('')}`);
    }),
  ]);
  readyOrExit.catch(() => {});
  return { child, logs, stderr, exited, ready: withTimeout(readyOrExit, 30_000, 'waiting for the worker child to be ready') };
}

export async function stopWorker(worker: WorkerProcess): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGKILL');
  await worker.exited;
}

/**
 * Waits until `queue` has nothing left to run: no job waiting, active or prioritized, nor delayed
 * unless `delayed: false` (a digest due in a minute). What a test asserts once this holds cannot
 * change any more through this queue: the wait that replaces "sleep, then check nothing else came".
 */
export async function waitForIdle(
  queue: Queue,
  { delayed = true, timeoutMs = 15_000 }: { delayed?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const states = ['waiting', 'active', 'prioritized', 'waiting-children', ...(delayed ? ['delayed' as const] : [])] as const;
  await waitFor(
    async () => {
      const counts = await queue.getJobCounts(...states);
      return Object.values(counts).every((count) => count === 0);
    },
    { timeoutMs, intervalMs: 50, what: `queue ${queue.name} to be idle` },
  );
}

/** Waits until one of `children` has logged `msg` for `jobId` (and `extra` fields, if given). */
export async function waitForLog(
  children: WorkerProcess[],
  msg: string,
  jobId: string,
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  return waitFor(() => children.flatMap((child) => child.logs).find((line) => line.msg === msg && line.jobId === jobId), {
    timeoutMs,
    what: `a "${msg}" log line for ${jobId}`,
  });
}

/** Waits until the job is in `state`, then reads it (so its return value or reason is there). */
export async function waitForState(queue: Queue, jobId: string, state: 'completed' | 'failed', timeoutMs = 15_000): Promise<Job> {
  return waitFor(async () => ((await queue.getJobState(jobId)) === state ? queue.getJob(jobId) : undefined), {
    timeoutMs,
    what: `job ${jobId} to be ${state}`,
  });
}

/** A test file's peers and everything its tests start, cleaned up after each test and at the end. */
export interface TestBed<P extends Peers = Peers> {
  peers: P;
  db: Db;
  producers: QueueClient[];
  children: WorkerProcess[];
  apps: WorkerApp[];
  /** A producer for `env`, closed after the test. */
  producer(env: Record<string, string>): QueueClient;
}

/**
 * Starts the peers (Redis, PostgreSQL, SMTP sink, Slack receiver) before the file's tests; after
 * each test stops the worker processes, apps and producers it registered and puts the peers back
 * to their defaults; stops everything after the last test. Read `bed.peers` inside tests.
 */
export function useTestBed(options: PeerOptions & { ownServers: true }): TestBed<OwnPeers>;
export function useTestBed(options?: PeerOptions): TestBed;
export function useTestBed(options: PeerOptions = {}): TestBed<Peers> {
  const bed = {
    producers: [],
    children: [],
    apps: [],
    producer(env: Record<string, string>) {
      const client = producerFor(env);
      bed.producers.push(client);
      return client;
    },
  } as unknown as TestBed;
  beforeAll(async () => {
    bed.peers = await startPeers(options);
    bed.db = createDb(bed.peers.postgres.url);
  }, 60_000);
  afterEach(async () => {
    await Promise.all(bed.children.splice(0).map(stopWorker));
    await Promise.all(bed.apps.splice(0).map((app) => app.stop(true)));
    await Promise.all(bed.producers.splice(0).map((producer) => producer.close()));
    bed.peers.smtp.setRules([]);
    bed.peers.smtp.throttle(undefined);
    bed.peers.smtp.throttled.length = 0;
    bed.peers.smtp.messages.length = 0;
    bed.peers.slack.setStatus(200);
    bed.peers.slack.setDelay(0);
    bed.peers.slack.requests.length = 0;
  });
  afterAll(async () => {
    await bed.db?.close();
    await bed.peers?.close();
  });
  return bed;
}

export interface WorkerAppBed {
  peers: Peers;
  db: Db;
  env: Record<string, string>;
  app: WorkerApp;
}

/**
 * One worker app for the whole file (every queue, silent logs) on the file's peers, with a Db of
 * the test's own; the SMTP sink and the Slack stand-in are emptied before each test.
 */
export function useWorkerApp(): WorkerAppBed {
  const bed = {} as WorkerAppBed;
  beforeAll(async () => {
    bed.peers = await startPeers();
    bed.db = createDb(bed.peers.postgres.url);
    bed.env = workerEnv(bed.peers);
    bed.app = createWorkerApp({ config: configFor(bed.env), logger: createLogger('silent') });
    await bed.app.started;
  }, 60_000);
  afterAll(async () => {
    await bed.app?.stop();
    await bed.db?.close();
    await bed.peers?.close();
  });
  beforeEach(() => {
    bed.peers.smtp.messages.length = 0;
    bed.peers.smtp.refused.length = 0;
    bed.peers.smtp.setRules([]);
    bed.peers.slack.requests.length = 0;
  });
  return bed;
}
