// The per-job Redis budget (issue 23, item 1): for each hot-path operation, the Redis commands ours
// sends are counted beside raw BullMQ's doing the same thing, on a private redis-server, and ours
// may exceed raw only by the ALLOWANCE below. Counts, never times: a change that adds a Redis
// command per job fails here until it adds a line to ALLOWANCE saying why.
//
// Counted with `INFO commandstats` deltas, which include the commands a script runs (`redis.call`):
// one EVALSHA of a script that calls EXISTS twice counts 3. A failure prints both sides' counts per
// command and what is not in ALLOWANCE; REDIS_BUDGET_REPORT=1 prints them when it passes too (to
// re-tune the allowances after a change).
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { migrate } from '@ceres/db';
import { jobOptions, loadQueuesConfig, QueueClient, registry } from '@ceres/queues';
import { connectionOf } from '../packages/queues/src/client';
import {
  makeTempDir,
  startPostgresServer,
  startRedisServer,
  testEncryptionKey,
  waitFor,
  type PostgresServer,
  type RedisServer,
} from '@ceres/testing';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../apps/worker/src/config';
import { createDeadLetters } from '../apps/worker/src/dead-letters';
import { buildDeps, closeDeps } from '../apps/worker/src/deps';
import { createLogger } from '../apps/worker/src/deps/logger';
import { processors, replaceQueueProcessors } from '../apps/worker/src/processors';
import { startWorkers } from '../apps/worker/src/worker-runner';

/**
 * What ours may send beyond raw BullMQ, per scenario: Redis command (as INFO commandstats names
 * it) → extra calls, one line of reason each; negative: calls ours saves. The test compares the
 * totals (ours ≤ raw + the sum); the lines say where each call comes from, and a failure prints
 * the per-command difference. Set to what the code needs today, exactly.
 */
const ALLOWANCE = {
  /** `QueueClient.enqueue` of a new id vs `Queue.add` with that jobId: one script call on both sides. */
  newId: {
    exists: 2, // in ours, before BullMQ's add runs (bullmq-layout.ts, verdictOf): is the id claimed by a producer replacing a finished job; is a job with this id stored (the duplicate windows need it)
  },
  /**
   * `QueueClient.enqueue` for a tenant (issue 26) vs `Queue.add` with that jobId and a priority: both
   * run BullMQ's prioritized add; ours places the job at its tenant's fair position first (the
   * queue's first tenant job, a warm-up of the same tenant, is waiting: a backlog).
   */
  newIdTenant: {
    exists: 2, // as for newId: the claim check and the stored-job check
    zrange: 1, // the fair position: the lowest waiting position (bullmq-layout.ts, FAIR_LUA)
    zrevrangebyscore: 1, // the fair position: the highest waiting fair position (is the tenant's last one still waiting?)
    hget: 1, // the fair position: the tenant's last one
    hset: 1, // the fair position: recorded as the tenant's last one
  },
  /** The same id enqueued again: ours answers from the decision alone, raw runs its whole add script. */
  duplicate: {
    exists: 1, // the decision's claim check (both sides then look for the stored job)
    hget: -2, // saved: BullMQ's add script reads the meta's maxLenEvents and the stored job's parentKey
    incr: -1, // saved: BullMQ's add script bumps the queue's id counter even for a duplicate
    xadd: -1, // saved: BullMQ's add script writes a `duplicated` event to the stream; ours writes none
  },
  /** `enqueueBulk` of 100 new ids vs `Queue.addBulk`: one pipeline of 100 script calls on both sides. */
  batch100: {
    exists: 200, // per job, as for newId: the claim check and the stored-job check before BullMQ's add
  },
  /**
   * One email/welcome job taken, run and completed by the worker runner, its mail written to the
   * outbox, vs one BullMQ Worker with a no-op. The window holds 4 fetches on both sides (see
   * measureProcessing); in a stream of jobs each job has one (its predecessor's fetch-next).
   * No limiter on a Worker without a rate: a back-pressure pause costs nothing until one is in force.
   */
  processedWelcome: {
    hincrby: 1, // BullMQ metrics (workerSettings.metrics): the completed count of this minute
    hget: 1, // BullMQ metrics: the minute of the last data point (a new minute adds HGET, LPUSH, LTRIM, HSET once)
  },
  /** The same job through the runner with a no-op processor (as bench/children/worker.ts does). */
  processedNoop: {
    hincrby: 1, // BullMQ metrics: the completed count
    hget: 1, // BullMQ metrics: the last data point's minute
  },
} satisfies Record<string, Record<string, number>>;

type Scenario = keyof typeof ALLOWANCE;
/** Calls per Redis command name. */
type Counts = Map<string, number>;

const DB = 5;
const PREFIX = 'budget:';
const RAW_PREFIX = 'raw';
const KEYS = testEncryptionKey('b1');
// The email queue's real settings: the same on both sides.
const EMAIL_CONCURRENCY = registry.email.concurrency;
const WELCOME_OPTIONS = jobOptions('email', 'welcome');
// Background timers (stalled checks, lock renewal, the stall watchdog) are per worker, not per job:
// pushed past the test's life so that none lands in a measured window. Same on both sides.
const BACKGROUND_MS = 3_600_000;

let redis: RedisServer;
let postgres: PostgresServer;
let outbox: { path: string; remove(): Promise<void> };
let meter: Meter;
let producer: QueueClient;
let rawConnection: Redis;
let rawQueue: Queue;

beforeAll(async () => {
  [redis, postgres, outbox] = await Promise.all([startRedisServer(), startPostgresServer(), makeTempDir('budget-outbox')]);
  await migrate(postgres.url);
  meter = new Meter(new Redis(redis.url, { db: DB, maxRetriesPerRequest: null }));
  producer = new QueueClient({
    config: loadQueuesConfig({ REDIS_URL: redis.url, REDIS_PREFIX: PREFIX, JOBS_ENCRYPTION_KEYS: KEYS }),
    onWarning: () => {},
  });
  rawConnection = new Redis(redis.url, { db: DB, maxRetriesPerRequest: null });
  rawQueue = new Queue('email', { connection: rawConnection, prefix: RAW_PREFIX });
  await Promise.all([producer.ready(), rawQueue.waitUntilReady()]);
  // Each Queue writes its meta once, some time after it is ready: before any count, not during one.
  const ours = producer.getQueue('email');
  await ours.waitUntilReady();
  for (const queue of [ours, rawQueue])
    await waitFor(async () => (await meter.redis.exists(queue.toKey('meta'))) === 1, { what: `${queue.toKey('meta')}` });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([producer?.close(), rawQueue?.close()]);
  rawConnection?.disconnect();
  meter?.redis.disconnect();
  await Promise.allSettled([redis?.close(), postgres?.close(), outbox?.remove()]);
});

describe('Redis commands per job: ours ≤ raw BullMQ + ALLOWANCE', () => {
  it('one enqueue of a new id', async () => {
    const ours = await measureEnqueue(
      connectionOf(producer) as Redis,
      async (id) => void (await producer.enqueue('email/welcome', payload(id))),
    );
    const raw = await measureEnqueue(
      rawConnection,
      async (id) => void (await rawQueue.add('welcome', payload(id), { ...WELCOME_OPTIONS, jobId: jobId(id) })),
    );
    expectWithinBudget('newId', ours, raw);
  });

  it('one duplicate (the same id again)', async () => {
    const ours = await measureEnqueue(
      connectionOf(producer) as Redis,
      async (id) => void (await producer.enqueue('email/welcome', payload(id))),
      {
        repeat: true,
      },
    );
    const raw = await measureEnqueue(
      rawConnection,
      async (id) => void (await rawQueue.add('welcome', payload(id), { ...WELCOME_OPTIONS, jobId: jobId(id) })),
      { repeat: true },
    );
    expectWithinBudget('duplicate', ours, raw);
  });

  it('one batch of 100', async () => {
    const ids = (id: string) => Array.from({ length: 100 }, (_, n) => `${id}-${n}`);
    const ours = await measureEnqueue(
      connectionOf(producer) as Redis,
      async (id) => void (await producer.enqueueBulk('email/welcome', ids(id).map(payload))),
    );
    const raw = await measureEnqueue(
      rawConnection,
      async (id) =>
        void (await rawQueue.addBulk(
          ids(id).map((one) => ({ name: 'welcome', data: payload(one), opts: { ...WELCOME_OPTIONS, jobId: jobId(one) } })),
        )),
    );
    expectWithinBudget('batch100', ours, raw);
  });

  it('one processed job: the welcome mail to the outbox, and a no-op, through the runner', async () => {
    const welcome = await measureProcessing(ourRunner('welcome'));
    // The real processor ran: the warm-up's mail and the measured job's are in the outbox.
    expect((await readdir(outbox.path)).filter((name) => name.endsWith('.eml')).length).toBeGreaterThanOrEqual(2);
    const noop = await measureProcessing(ourRunner('noop'));
    const raw = await measureProcessing(rawWorker());
    expectWithinBudget('processedWelcome', welcome, raw);
    expectWithinBudget('processedNoop', noop, raw);
  });

  // Last: the queue has fair shares from then on (the scenarios above measure a queue without tenants).
  it('one enqueue of a new id for a tenant (fair shares)', async () => {
    const ours = await measureEnqueue(
      connectionOf(producer) as Redis,
      async (id) => void (await producer.enqueue('email/welcome', payload(id), { tenant: 'acme' })),
    );
    const raw = await measureEnqueue(
      rawConnection,
      async (id) => void (await rawQueue.add('welcome', payload(id), { ...WELCOME_OPTIONS, jobId: `acme@${jobId(id)}`, priority: 1 })),
    );
    expectWithinBudget('newIdTenant', ours, raw);
  });
});

// --- Scenarios -------------------------------------------------------------------------------

const payload = (id: string) => ({ userId: id, email: `${id}@example.com`, firstName: 'Ada' });
/** The id ours derives from the key field (email/welcome's userId), given to raw BullMQ as its jobId. */
const jobId = (id: string) => `email:welcome:${id}`;

/**
 * One side of an enqueue scenario, from an empty database: an unmeasured warm-up of the same
 * operation on another id (BullMQ's scripts and ours loaded, the queue's meta written), then
 * `operation` counted until its connection is idle. `repeat`: the measured id is enqueued once,
 * unmeasured, before.
 */
async function measureEnqueue(
  connection: Redis,
  operation: (id: string) => Promise<void>,
  options: { repeat?: boolean } = {},
): Promise<Counts> {
  await meter.flush();
  await operation(`warm-${randomUUID()}`);
  const id = `u-${randomUUID()}`;
  if (options.repeat) await operation(id);
  await meter.settle(connection);
  return meter.count(async () => {
    await operation(id);
    await meter.settle(connection);
  });
}

interface Consumer {
  label: string;
  worker: Worker;
  /** The queue the jobs go to, seen from the producer side (pause, resume, its keys). */
  queue: Queue;
  enqueue(id: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * One side of the processed-job scenario, measured on exactly one job, which makes it exact. A
 * stream of N jobs would not be: how many fetches find nothing while the 5 slots drain, how many
 * idle polls (a BZPOPMIN of `drainDelay`, then a fetch) land in the window and how many 1 s
 * limiter windows it spans all depend on timing. So:
 * - the worker's idle poll is made longer than the test (`drainDelay`, read on each poll) and its
 *   other timers are pushed out by configuration (BACKGROUND_MS), on both sides;
 * - an unmeasured warm-up job loads the scripts and writes the queue's meta; then the queue is
 *   paused, the measured job enqueued (it waits), and the worker left blocked in its BZPOPMIN
 *   (CLIENT LIST says so);
 * - the window: `Queue.resume()` (its script wakes the worker), the fetch that takes the job, a
 *   fetch by a free slot that finds nothing, a BZPOPMIN that returns at once (taking a job leaves
 *   BullMQ's base marker), a third empty fetch, the BZPOPMIN that blocks, and the completion with
 *   its fetch-next; the order varies from run to run, the commands do not. Same on both sides.
 * Two time-keyed counters of ours are held still: the limiter's key is let expire first, so the
 * job always starts a limiter window (INCR gives 1, then PEXPIRE); BullMQ's metrics add a data
 * point when a minute ends, so a side that crossed one is run again.
 */
async function measureProcessing(start: () => Promise<Consumer>): Promise<Counts> {
  for (let attempt = 1; ; attempt++) {
    await meter.flush();
    // The previous side's worker gone from the server too: the only blocked client will be this side's.
    await meter.untilBlocked(0);
    await clearOfMinuteEnd();
    const from = Date.now();
    const consumer = await start();
    try {
      // An idle poll of an hour: no BZPOPMIN times out in the window.
      consumer.worker.opts.drainDelay = BACKGROUND_MS / 1000;
      const warm = `warm-${randomUUID()}`;
      const warmed = completion(consumer.worker, jobId(warm));
      await consumer.enqueue(warm);
      await warmed;
      await consumer.queue.pause();
      const id = `u-${randomUUID()}`;
      await consumer.enqueue(id);
      await meter.untilGone(consumer.queue.toKey('limiter'));
      await meter.untilBlocked(1);
      const done = completion(consumer.worker, jobId(id));
      const counts = await meter.count(async () => {
        await consumer.queue.resume();
        await done;
        await meter.untilBlocked(1);
      });
      if (minute(from) === minute(Date.now())) return counts;
      if (attempt === 2) throw new Error(`${consumer.label}: two runs crossed a minute's end`);
    } finally {
      await consumer.close();
    }
  }
}

const noop = async () => undefined;

/** Ours: the worker runner as the worker builds it, consuming the email queue. */
function ourRunner(processor: 'welcome' | 'noop'): () => Promise<Consumer> {
  return async () => {
    const config = loadWorkerConfig({
      REDIS_URL: redis.url,
      REDIS_PREFIX: PREFIX,
      JOBS_ENCRYPTION_KEYS: KEYS,
      DATABASE_URL: postgres.url,
      // No SMTP_URL: the mailer writes .eml files here.
      OUTBOX_DIR: outbox.path,
      UNSUBSCRIBE_SECRET: 'budget-unsubscribe-secret-0123456789',
      LOG_LEVEL: 'silent',
      WORKER_LOCK_DURATION_MS: String(BACKGROUND_MS),
      WORKER_STALLED_INTERVAL_MS: String(BACKGROUND_MS),
      WORKER_STALL_CHECK_MS: String(BACKGROUND_MS),
    });
    const logger = createLogger('silent');
    const deps = buildDeps(config, logger);
    const deadLetters = createDeadLetters({ db: deps.db, queues: deps.queues, logger, digestAfter: config.deadLetterDigestAfter });
    const runner = startWorkers({
      config,
      deps,
      logger,
      deadLetters,
      processors: processor === 'welcome' ? processors : replaceQueueProcessors('email', noop),
      queues: ['email'],
    });
    await Promise.all([runner.ready(), deps.queues.ready()]);
    return {
      label: `ours (${processor})`,
      worker: runner.workers.get('email')!,
      queue: producer.getQueue('email'),
      enqueue: async (id) => void (await producer.enqueue('email/welcome', payload(id))),
      close: async () => {
        await runner.close();
        deadLetters.stop();
        await closeDeps(deps);
      },
    };
  };
}

/** Raw: one BullMQ Worker with a no-op processor, the email queue's concurrency, no limiter or metrics. */
function rawWorker(): () => Promise<Consumer> {
  return async () => {
    const worker = new Worker('email', noop, {
      connection: { host: '127.0.0.1', port: redis.port, db: DB, maxRetriesPerRequest: null },
      prefix: RAW_PREFIX,
      concurrency: EMAIL_CONCURRENCY,
      lockDuration: BACKGROUND_MS,
      stalledInterval: BACKGROUND_MS,
    });
    worker.on('error', () => {});
    await worker.waitUntilReady();
    return {
      label: 'raw',
      worker,
      queue: rawQueue,
      enqueue: async (id) => void (await rawQueue.add('welcome', payload(id), { ...WELCOME_OPTIONS, jobId: jobId(id) })),
      close: () => worker.close(),
    };
  };
}

/** Resolves when `worker` completes the job `id`; rejects if it fails. */
function completion(worker: Worker, id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const completed = (job: Job) => {
      if (job.id !== id) return;
      worker.off('completed', completed).off('failed', failed);
      resolve();
    };
    const failed = (job: Job | undefined, error: Error) => {
      if (job?.id !== id) return;
      worker.off('completed', completed).off('failed', failed);
      reject(new Error(`job ${id} failed: ${error.message}`));
    };
    worker.on('completed', completed).on('failed', failed);
  });
}

const minute = (ms: number) => Math.floor(ms / 60_000);

/** Waits for the next minute when this one ends within 5 s (a side takes about a second). */
async function clearOfMinuteEnd(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 5_000) await sleep(left + 50);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- Counting --------------------------------------------------------------------------------

/**
 * Reads INFO commandstats on its own connection. A count is `after − before` minus the commands the
 * meter itself sent in between: the INFO that read `before` (Redis counts a command once it ran,
 * so each INFO shows up in the next read), and the ECHO / CLIENT LIST it uses to wait for quiet.
 */
class Meter {
  private own: Counts = new Map();

  constructor(readonly redis: Redis) {}

  async flush(): Promise<void> {
    await this.redis.flushdb();
  }

  /** Counts the commands sent to Redis while `operation` runs (which ends with the traffic settled). */
  async count(operation: () => Promise<void>): Promise<Counts> {
    const before = await this.read();
    this.own = new Map([['info', 1]]);
    await operation();
    const after = await this.read();
    const counts: Counts = new Map();
    for (const [command, calls] of after) {
      const delta = calls - (before.get(command) ?? 0) - (this.own.get(command) ?? 0);
      if (delta !== 0) counts.set(command, delta);
    }
    return counts;
  }

  /**
   * Waits until every command `connection` was given is answered: after two turns of the event
   * loop (fire-and-forget follow-ups such as the claim release, and a corked socket, are written
   * by then), an ECHO on the same connection is answered after them.
   */
  async settle(connection: Redis): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    await connection.echo('redis-budget');
    this.note('echo');
  }

  /** Waits until exactly `clients` connections are blocked in BZPOPMIN (a worker waiting for jobs). */
  async untilBlocked(clients: number): Promise<void> {
    for (let tries = 0; ; tries++) {
      const list = await this.redis.client('LIST');
      this.note('client|list');
      const blocked = String(list)
        .split('\n')
        .filter((line) => / flags=\S*b/.test(line) && / cmd=bzpopmin /.test(line)).length;
      if (blocked === clients) return;
      if (tries > 500) throw new Error(`expected ${clients} worker(s) blocked in BZPOPMIN, found ${blocked}:\n${list}`);
      await sleep(10);
    }
  }

  /** Waits (unmeasured) until `key` has expired. */
  async untilGone(key: string): Promise<void> {
    while ((await this.redis.exists(key)) === 1) await sleep(20);
  }

  private note(command: string): void {
    this.own.set(command, (this.own.get(command) ?? 0) + 1);
  }

  private async read(): Promise<Counts> {
    const info = await this.redis.info('commandstats');
    return new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map(([, command, calls]) => [command!, Number(calls)]));
  }
}

// --- The assertion ---------------------------------------------------------------------------

const total = (counts: Counts | Record<string, number>) =>
  [...(counts instanceof Map ? counts.values() : Object.values(counts))].reduce((sum, n) => sum + n, 0);

const breakdown = (counts: Counts | Record<string, number>, signed = false) =>
  [...(counts instanceof Map ? counts : Object.entries(counts))]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([command, calls]) => `${command} ${signed && calls > 0 ? '+' : ''}${calls}`)
    .join(', ') || '(none)';

function expectWithinBudget(scenario: Scenario, ours: Counts, raw: Counts): void {
  const allowance: Record<string, number> = ALLOWANCE[scenario];
  const difference: Counts = new Map();
  for (const command of new Set([...ours.keys(), ...raw.keys()])) {
    const delta = (ours.get(command) ?? 0) - (raw.get(command) ?? 0);
    if (delta !== 0) difference.set(command, delta);
  }
  const unexplained: Counts = new Map();
  for (const command of new Set([...difference.keys(), ...Object.keys(allowance)])) {
    const delta = (difference.get(command) ?? 0) - (allowance[command] ?? 0);
    if (delta !== 0) unexplained.set(command, delta);
  }
  const report = [
    `${scenario}: ours ${total(ours)} Redis commands, raw BullMQ ${total(raw)}, allowance ${total(allowance)}`,
    `  ours:            ${breakdown(ours)}`,
    `  raw:             ${breakdown(raw)}`,
    `  ours − raw:      ${breakdown(difference, true)}`,
    `  ALLOWANCE.${scenario}: ${breakdown(allowance, true)}`,
    `  not in ALLOWANCE: ${breakdown(unexplained, true)}`,
  ].join('\n');
  if (process.env.REDIS_BUDGET_REPORT) console.log(report);
  expect
    .soft(
      total(ours),
      `over budget: a Redis command was added per job; remove it or add it to ALLOWANCE.${scenario} with its reason\n${report}\n`,
    )
    .toBeLessThanOrEqual(total(raw) + total(allowance));
}
