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

/**
 * Writes jobs to Redis. `addNow` sends a batch at once, as one MULTI (all or nothing).
 * `addSoon` coalesces the adds made in one event-loop turn (an API answering many requests at
 * once) into one pipelined round trip, each job settling on its own: Redis and the process make
 * one write and one read for the lot instead of one per job. Either way, whether a job with an id was
 * new is learnt in the same round trip (see {@link ENQUEUE_MARK}).
 */
export class JobWriter {
  /** `connection`: the one connection of the queues whose jobs this writer adds. */
  constructor(connection: Redis) {
    // A named script: ioredis sends its body once per connection, then only its SHA.
    if (!(CREATED_BY_MARK in connection)) connection.defineCommand(CREATED_BY_MARK, { lua: CREATED_BY_MARK_LUA });
  }

  private pending: Array<{ job: JobToAdd; resolve: (result: EnqueueResult) => void; reject: (error: Error) => void }> = [];
  private flushScheduled = false;

  /** Adds `job` together with the other adds of this event-loop turn. */
  addSoon(job: JobToAdd): Promise<EnqueueResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ job, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate, not nextTick: it runs once every request read in this poll phase is in.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Adds `jobs` in one MULTI: every job is added, or the call fails. */
  async addNow(jobs: JobToAdd[]): Promise<EnqueueResult[]> {
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
    this.pending = [];
    this.flushScheduled = false;
    const settle: Settle = (index, error, result) => (error ? batch[index]!.reject(error) : batch[index]!.resolve(result!));
    this.write(
      batch.map((entry) => entry.job),
      'pipeline',
      settle,
    ).catch((error: Error) => {
      for (const entry of batch) entry.reject(error);
    });
  }

  private async write(jobs: JobToAdd[], mode: 'multi' | 'pipeline', settle: Settle): Promise<void> {
    if (jobs.length === 0) return;
    // A writer serves one QueueClient, whose queues share one connection.
    const client = await jobs[0]!.queue.client;
    const transaction = mode === 'multi' ? client.multi() : client.pipeline();
    const mark = randomUUID();
    // Per job: where its add's reply will be, or the error BullMQ raised while preparing it (such
    // a job is not sent). An id seen earlier in this write is a duplicate by definition.
    const sent: Sent[] = [];
    const checkedKeys: string[] = [];
    const firstOfId = new Set<string>();
    let replyCount = 0;
    for (const { queue, name, data, opts } of jobs) {
      try {
        const job = new Job(queue, name, data, opts.jobId === undefined ? opts : ({ ...opts, [ENQUEUE_MARK]: mark } as JobsOptions), opts.jobId);
        // Queues the add script on the transaction, as BullMQ's own createBulk does; its reply
        // comes with exec() below.
        void job.addJob(transaction as never, { parentDependenciesKey: '' } as never).catch(() => {});
      } catch (error) {
        sent.push(error as Error);
        continue;
      }
      const entry: Sent = { add: replyCount++ };
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
    if (replyCount === 0) return sent.forEach((entry, index) => settle(index, entry as Error));
    if (checkedKeys.length > 0) {
      // Named commands are copied onto every pipeline ioredis makes for the connection.
      (transaction as unknown as Record<string, (...args: unknown[]) => unknown>)[CREATED_BY_MARK]!(checkedKeys.length, ...checkedKeys, mark);
    }
    const replies = (await transaction.exec()) as Array<[Error | null, unknown]> | null;
    if (!replies) throw new Error('the Redis transaction was discarded');
    const [checkError, created] = checkedKeys.length > 0 ? replies[replyCount]! : [null, []];
    sent.forEach((entry, index) => {
      if (entry instanceof Error) return settle(index, entry);
      const [addError, id] = replies[entry.add]!;
      if (addError) return settle(index, addError);
      if (typeof id === 'number' && id < 0) return settle(index, new Error(`BullMQ refused the job (code ${id})`));
      if (entry.check !== undefined && checkError) return settle(index, checkError);
      const duplicate = entry.repeated === true || (entry.check !== undefined && (created as number[])[entry.check] !== 1);
      settle(index, undefined, { jobId: String(id), duplicate });
    });
  }
}
