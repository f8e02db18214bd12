import { randomUUID } from 'node:crypto';
import { Job, type JobsOptions, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** One job to add: what `Queue.add` takes, with the registry's defaults already merged in. */
export interface JobToAdd {
  queue: Queue;
  name: string;
  data: unknown;
  opts: JobsOptions;
}

export interface EnqueueResult {
  jobId: string;
  /** True exactly when a job with this id already existed and nothing new was enqueued. */
  duplicate: boolean;
}

/**
 * Each write marks the jobs it adds with a random value in an option BullMQ stores but does not
 * interpret. In the same round trip, right after the adds, {@link CREATED_BY_MARK_LUA} reads the
 * stored options back: our mark means this write created the job; another mark (or none) means
 * it was already there. BullMQ itself answers both cases with the same id.
 */
const ENQUEUE_MARK = 'ceresEnqueueMark';

/** For each job key, 1 when its stored options carry the mark in ARGV[1], else 0. */
const CREATED_BY_MARK = 'ceresCreatedByMark';
const CREATED_BY_MARK_LUA = `
local created = {}
for i, key in ipairs(KEYS) do
  local opts = redis.call('HGET', key, 'opts')
  created[i] = (opts and string.find(opts, ARGV[1], 1, true)) and 1 or 0
end
return created`;

type Settle = (index: number, error: Error | undefined, result?: EnqueueResult) => void;
/** Where a job's add reply will be, and its position among the checked keys (first adds of an id). */
type Sent = { add: number; check?: number; repeated?: boolean } | Error;

/** `addSoon` sends at the latest at the end of the event-loop turn, earlier once this many wait. */
export const SOON_BATCH_MAX = 16;

/**
 * Writes jobs to Redis. `addNow` sends a batch at once, as one MULTI (all or nothing).
 * `addSoon` coalesces the adds made close together (an API answering many requests at once): they
 * go out in one socket write when the event-loop turn ends or {@link SOON_BATCH_MAX} are waiting,
 * and each job settles on its own. Either way, whether a job with an id was new is learnt in the
 * same round trip (see {@link ENQUEUE_MARK}).
 */
export class JobWriter {
  private pending: Array<{ job: JobToAdd; resolve: (result: EnqueueResult) => void; reject: (error: Error) => void }> = [];
  private flushScheduled = false;

  /** `connection`: the one connection (without auto-pipelining) of the queues whose jobs this writer adds. */
  constructor(private readonly connection: Redis) {
    // A named script: ioredis sends its body once per connection, then only its SHA.
    if (!(CREATED_BY_MARK in connection)) connection.defineCommand(CREATED_BY_MARK, { lua: CREATED_BY_MARK_LUA });
  }

  /** Adds `job` together with the other adds made around the same time. */
  addSoon(job: JobToAdd): Promise<EnqueueResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ job, resolve, reject });
      if (this.pending.length >= SOON_BATCH_MAX) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate, not nextTick: it runs once the requests read in this poll phase are in.
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Adds `jobs` in one MULTI: every job is added, or the call fails. */
  async addNow(jobs: JobToAdd[]): Promise<EnqueueResult[]> {
    if (jobs.length === 0) return [];
    const results: EnqueueResult[] = new Array(jobs.length);
    let failure: Error | undefined;
    await this.write(jobs, 'multi', (index, error, result) => {
      if (error) failure ??= error;
      else results[index] = result!;
    });
    if (failure) throw failure;
    return results;
  }

  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const settle: Settle = (index, error, result) => (error ? batch[index]!.reject(error) : batch[index]!.resolve(result!));
    this.write(
      batch.map((entry) => entry.job),
      'direct',
      settle,
    ).catch((error: Error) => {
      for (const entry of batch) entry.reject(error);
    });
  }

  /**
   * `multi`: one MULTI/EXEC. `direct`: the commands go straight to the connection with its socket
   * corked, so they leave in one write, without the cost of an ioredis pipeline (which copies every
   * named script of the connection onto itself) for a handful of jobs.
   */
  private async write(jobs: JobToAdd[], mode: 'multi' | 'direct', settle: Settle): Promise<void> {
    // A writer serves one QueueClient, whose queues share one connection.
    const client = await jobs[0]!.queue.client;
    const transaction = mode === 'multi' ? client.multi() : undefined;
    const target = transaction ?? client;
    const mark = randomUUID();
    // Per job: where its add's reply will be, or the error BullMQ raised while preparing it (such
    // a job is not sent). An id seen earlier in this write is a duplicate by definition.
    const sent: Sent[] = [];
    const replies: Array<Promise<unknown>> = [];
    const checkedKeys: string[] = [];
    const firstOfId = new Set<string>();
    const stream = mode === 'direct' ? this.connection.stream : undefined;
    stream?.cork();
    try {
      for (const { queue, name, data, opts } of jobs) {
        try {
          const job = new Job(queue, name, data, opts.jobId === undefined ? opts : ({ ...opts, [ENQUEUE_MARK]: mark } as JobsOptions), opts.jobId);
          // The add script is queued (MULTI) or written (direct) right here, before any await.
          const reply = job.addJob(target as never, { parentDependenciesKey: '' } as never);
          reply.catch(() => {});
          replies.push(reply);
        } catch (error) {
          sent.push(error as Error);
          continue;
        }
        const entry: Sent = { add: replies.length - 1 };
        if (opts.jobId !== undefined) {
          const key = queue.toKey(opts.jobId);
          if (firstOfId.has(key)) entry.repeated = true;
          else {
            firstOfId.add(key);
            entry.check = checkedKeys.push(key) - 1;
          }
        }
        sent.push(entry);
      }
      // All or nothing: a MULTI with a job left out is never sent (ioredis buffers it until exec).
      const refused = sent.find((entry): entry is Error => entry instanceof Error);
      if (mode === 'multi' && refused) throw refused;
      if (checkedKeys.length > 0) {
        const check = (target as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[CREATED_BY_MARK]!(checkedKeys.length, ...checkedKeys, mark);
        if (mode === 'direct') {
          check.catch(() => {});
          replies.push(check);
        }
      }
    } finally {
      stream?.uncork();
    }
    const settled: Array<[Error | null, unknown]> = transaction
      ? (((await transaction.exec()) as Array<[Error | null, unknown]> | null) ?? discarded())
      : (await Promise.allSettled(replies)).map((outcome) => (outcome.status === 'fulfilled' ? [null, outcome.value] : [outcome.reason as Error, undefined]));
    const [checkError, created] = checkedKeys.length > 0 ? settled[settled.length - 1]! : [null, []];
    sent.forEach((entry, index) => {
      if (entry instanceof Error) return settle(index, entry);
      const [addError, id] = settled[entry.add]!;
      if (addError) return settle(index, addError);
      if (typeof id === 'number' && id < 0) return settle(index, new Error(`BullMQ refused the job (code ${id})`));
      if (entry.check !== undefined && checkError) return settle(index, checkError);
      const duplicate = entry.repeated === true || (entry.check !== undefined && (created as number[])[entry.check] !== 1);
      settle(index, undefined, { jobId: String(id), duplicate });
    });
  }
}

function discarded(): never {
  throw new Error('the Redis transaction was discarded');
}
