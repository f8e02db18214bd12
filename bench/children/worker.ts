// One side of pairs 3, 4 and 6 in a process of its own: `ours` is the worker runner of
// apps/worker (every queue consumed, the email queue's processors replaced by no-ops that still go
// through the wrapper; BENCH_NOOP_QUEUES=email,slack: those queues'), `raw` a single BullMQ Worker
// with a no-op processor. Both at concurrency 50 per no-op queue.
import { QUEUE_NAMES, type QueueName } from '@ceres/queues';
import { Worker, type Job } from 'bullmq';
import { createDeadLetters } from '../../apps/worker/src/dead-letters';
import { loadWorkerConfig } from '../../apps/worker/src/config';
import { buildDeps } from '../../apps/worker/src/deps';
import { createLogger } from '../../apps/worker/src/deps/logger';
import { replaceQueueProcessors } from '../../apps/worker/src/processors';
import { startWorkers } from '../../apps/worker/src/worker-runner';
import { JobLedger } from '../../apps/worker/src/ledger';
import { REDIS_DB, wallClockMs } from '../lib/payload';

const CONCURRENCY = 50;
const mode = process.env.BENCH_SIDE as 'ours' | 'raw';
const task = process.env.BENCH_TASK as 'throughput' | 'latency';
const count = Number(process.env.BENCH_COUNT);
const noopQueues = (process.env.BENCH_NOOP_QUEUES ?? 'email').split(',') as QueueName[];

let completed = 0;
let firstStart = 0;
const latencies: number[] = [];
const onStart = (job: Job) => {
  const now = Date.now();
  if (firstStart === 0) firstStart = now;
  // The latency jobs' userId ends with the producer's enqueue time in ms with µs decimals (the
  // job's own `timestamp` has 1 ms resolution); both processes read the same wall clock.
  if (task === 'latency') latencies.push(wallClockMs() - Number((job.data as { userId: string }).userId.split('@')[1]));
};
// Typed loosely: the runner hands processors the real BullMQ job, whose `timestamp` is read here.
const noop = async (job: unknown) => {
  onStart(job as Job);
  return undefined;
};
const onCompleted = () => {
  completed += 1;
  if (completed !== count) return;
  const ms = Date.now() - firstStart;
  process.send!({ type: 'done', ms, latencies, rssMiB: process.memoryUsage().rss / 1048576 });
};

let worker: Worker;
let close: () => Promise<unknown>;
if (mode === 'ours') {
  // The no-op jobs never fail, so no dead letter is written; the database takes the job ledger and
  // is read for the tenants (BENCH_TENANTS).
  const config = loadWorkerConfig({
    UNSUBSCRIBE_SECRET: 'bench-unsubscribe-secret-0123',
    ...process.env,
    DATABASE_URL: process.env.BENCH_DATABASE_URL ?? 'postgres://bench:bench@127.0.0.1:9/bench',
  });
  const logger = createLogger(config.logLevel);
  const deps = buildDeps(config, logger);
  const deadLetters = createDeadLetters({ db: deps.db, queues: deps.queues, logger, digestAfter: config.deadLetterDigestAfter });
  // The job ledger on, as the worker app runs it: a row per job, pushed and drained every second.
  const ledger = new JobLedger({ store: deps.queues.store, db: deps.db.jobLedger, logger, maxPendingRows: config.jobLedgerMaxPendingRows });
  const processors = noopQueues.reduce(
    (map, queue) => ({ ...map, [queue]: replaceQueueProcessors(queue, noop)[queue] }),
    replaceQueueProcessors('email', noop),
  );
  const runner = startWorkers({ config, deps, logger, deadLetters, ledger, processors });
  ledger.start();
  await runner.ready();
  if (runner.queues.length !== QUEUE_NAMES.length) throw new Error(`expected every queue consumed, got ${runner.queues.join(', ')}`);
  worker = runner.workers.get('email')!;
  // The registry's email concurrency is 5; both sides run at 50 for this comparison.
  for (const queue of noopQueues) {
    const consumer = runner.workers.get(queue)!;
    consumer.concurrency = CONCURRENCY;
    if (consumer !== worker) consumer.on('completed', onCompleted);
  }
  close = () =>
    runner
      .close()
      .then(() => ledger.stop())
      .then(() => Promise.allSettled([deps.db.close(), deps.queues.close()]));
} else {
  const url = new URL(process.env.REDIS_URL!);
  worker = new Worker('email', noop, {
    connection: { host: url.hostname, port: Number(url.port), db: REDIS_DB, maxRetriesPerRequest: null },
    prefix: process.env.REDIS_PREFIX!,
    concurrency: CONCURRENCY,
  });
  await worker.waitUntilReady();
  close = () => worker.close();
}
worker.on('completed', onCompleted);
process.send!({ type: 'ready', rssMiB: process.memoryUsage().rss / 1048576 });
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stop') void close().finally(() => process.exit(0));
});
