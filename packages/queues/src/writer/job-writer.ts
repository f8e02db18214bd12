import { randomUUID } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import { Cluster, type Redis } from 'ioredis';
import { byQueue } from '../by-queue';
import { nodeFor, type RedisClient } from '../connection';
import type { DuplicateWindow } from '../jobs/define';
import { ReplicationError } from '../errors/replication-error';
import { FixedReplicaTarget, type ReplicaTarget } from '../replica-target';
import { DEFAULT_TENANT } from '@ceres/app-kit';
import { claimKey, fairKey } from './ceres-keys';
import {
  checkAddOptions,
  decide,
  decideAndAdd,
  defineLayoutScripts,
  digestsArgument,
  explicitFairPriority,
  prepareDecideAndAdd,
  releaseClaims,
  Verdict,
  type DecideAndAddResult,
  type Decision,
  type PreparedAdd,
} from './bullmq-layout';

/** One job to add: what `Queue.add` takes, with the job type's options already merged in. */
export interface JobToAdd {
  queue: Queue;
  name: string;
  data: unknown;
  opts: JobsOptions;
  /** How an existing job with `opts.jobId` makes this add a duplicate. */
  window: DuplicateWindow;
  /**
   * For `pending-or-same-payload` with encrypted fields: the payload's keyed digests (one per key of
   * the ring), compared with the stored job's instead of its data (ciphertexts never repeat).
   */
  digests?: readonly string[];
  /** The tenant the job is for: its fair share of the queue (see bullmq-layout.ts). @defaultValue `default` */
  tenant?: string;
}

export interface EnqueueResult {
  jobId: string;
  /** True exactly when this enqueue added nothing: a job with this id counts as the same job. */
  duplicate: boolean;
}

export interface JobWriterOptions {
  /** The producer connection the queues use; the writer's scripts run on it. */
  connection: RedisClient;
  /**
   * How long a claim on a job id lasts if its producer dies between deciding and adding (the rare
   * path: a finished job to replace): a concurrent enqueue of the same id waits for it at most this long.
   * @defaultValue 5000
   */
  claimMs?: number;
  /**
   * Replicas that must confirm an add (Redis `WAIT`) before it succeeds: a number, or a
   * {@link ReplicaTarget} that knows the current one (`REDIS_WAIT_REPLICAS=all`); a shortfall
   * rejects with {@link ReplicationError}. @defaultValue 0
   */
  waitReplicas?: number | ReplicaTarget;
}

/** How often a producer looks again whether a queue it saw without tenants has some now. */
const FAIR_MODE_RECHECK_MS = 5_000;

/** First wait before asking again about an id another producer is adding; doubles up to 250 ms. */
const IN_FLIGHT_RETRY_MS = 2;
/** The single enqueues of one event-loop turn leave together, at the latest once this many wait. */
export const SOON_BATCH_MAX = 64;

interface PendingAdd {
  job: JobToAdd;
  prepared: PreparedAdd;
  resolve: (result: EnqueueResult) => void;
  reject: (error: Error) => void;
}

/**
 * The one enqueue protocol, for a single enqueue and a batch alike (all jobs of one call in one
 * queue). Each job with a deterministic id is one script call that decides and adds (see
 * bullmq-layout.ts): new → added, kept → a duplicate, all in one round trip for the whole call.
 * Single enqueues made in one event-loop turn (an API answering many requests at once) leave in
 * one pipeline, at the end of the turn or once {@link SOON_BATCH_MAX} wait, and each settles on its
 * own: one socket write and one read in Redis for all of them instead of one per job.
 * Two rare cases take the claim protocol instead: a finished job that the window lets a new one
 * replace (decide and claim → remove → add → release), and an id another producer holds a claim
 * on (asked again until its claim is gone). Jobs without an id go through `Queue.addBulk`.
 */
export class JobWriter {
  private readonly connection: RedisClient;
  private readonly claimMs: number;
  private readonly replicas: ReplicaTarget;
  private replication: Promise<void> | undefined;
  /** On a cluster: a key of each queue written since the last `WAIT`, whose master must confirm. */
  private readonly written = new Map<string, string>();
  private readonly cluster: boolean;
  private pending: PendingAdd[] = [];
  private flushScheduled = false;
  /** Per queue: whether it has fair shares (another tenant than `default` enqueued), and when that was last asked. */
  private readonly fairQueues = new Map<string, { fair: boolean; askedAt: number }>();

  constructor(options: JobWriterOptions) {
    this.connection = options.connection;
    this.claimMs = options.claimMs ?? 5_000;
    const replicas = options.waitReplicas ?? 0;
    this.replicas = typeof replicas === 'number' ? new FixedReplicaTarget(replicas) : replicas;
    this.cluster = this.connection instanceof Cluster;
    defineLayoutScripts(this.connection);
  }

  /**
   * One job, sent with the other single enqueues of this event-loop turn; it settles on its own (a
   * job BullMQ refuses throws here, before anything is sent).
   */
  addOne(job: JobToAdd): Promise<EnqueueResult> {
    if (job.opts.jobId === undefined) return this.add([job]).then((results) => results[0]!);
    let prepared: PreparedAdd;
    try {
      prepared = this.prepare(job);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise<EnqueueResult>((resolve, reject) => {
      this.pending.push({ job, prepared, resolve, reject });
      if (this.pending.length >= SOON_BATCH_MAX) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate, not nextTick: it runs once the requests read in this poll phase are in.
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * The decide-and-add call of one job, with its fair share: in a queue with tenants, a job without
   * an explicit priority or a delay takes its tenant's fair position, one with a priority goes after
   * the fair ones (see FAIR_SPAN in bullmq-layout.ts). A queue only ever used by `default` stays as
   * BullMQ has it (the wait list, FIFO), so a single-municipality install pays nothing for tenants.
   */
  private prepare(job: JobToAdd): PreparedAdd {
    const tenant = job.tenant ?? DEFAULT_TENANT;
    let opts = job.opts;
    let fairTenant = '';
    if (this.hasFairShares(job.queue, tenant)) {
      if (opts.priority) opts = { ...opts, priority: explicitFairPriority(opts.priority) };
      else if (!opts.delay) {
        opts = { ...opts, priority: 1 };
        fairTenant = tenant;
      }
    }
    return prepareDecideAndAdd(job.queue, job.name, job.data, opts, { ...decision(job), fairTenant });
  }

  /**
   * Whether `queue` has fair shares: from this job when its tenant is not `default`, else as last
   * seen in Redis (looked up again in the background at most every FAIR_MODE_RECHECK_MS, never per
   * job: the first `default` jobs after another producer's first tenant job may still go FIFO).
   */
  private hasFairShares(queue: JobToAdd['queue'], tenant: string): boolean {
    const known = this.fairQueues.get(queue.name);
    if (tenant !== DEFAULT_TENANT) {
      if (!known?.fair) this.fairQueues.set(queue.name, { fair: true, askedAt: Date.now() });
      return true;
    }
    if (known?.fair) return true;
    const now = Date.now();
    if (!known || now - known.askedAt >= FAIR_MODE_RECHECK_MS) {
      this.fairQueues.set(queue.name, { fair: false, askedAt: now });
      this.connection.exists(fairKey(queue)).then(
        (exists) => exists === 1 && this.fairQueues.set(queue.name, { fair: true, askedAt: Date.now() }),
        () => {}, // asked again after the next interval
      );
    }
    return false;
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    // A cluster pipeline must stay on one node: one per queue there (each queue is one slot).
    for (const group of this.cluster ? byQueue(batch, (entry) => entry.job.queue) : [batch]) {
      decideAndAdd(
        this.connection,
        group.map((entry) => entry.prepared),
      ).then(
        (answers) => answers.forEach((answer, position) => void this.settleOne(group[position]!, answer)),
        (error: Error) => group.forEach((entry) => entry.reject(error)),
      );
    }
  }

  /** Settles one single enqueue from its answer; the rare verdicts take the claim protocol. */
  private async settleOne(entry: PendingAdd, answer: DecideAndAddResult | Error): Promise<void> {
    try {
      if (answer instanceof Error) throw answer;
      const results: Array<EnqueueResult | undefined> = [undefined];
      const jobId = entry.job.opts.jobId!;
      if (answer.verdict === Verdict.New) results[0] = newResult(jobId, answer.added);
      else if (answer.verdict === Verdict.Duplicate) results[0] = { jobId, duplicate: true };
      else await this.addClaimed([entry.job], [0], results);
      await this.replicated(entry.job.queue);
      entry.resolve(results[0]!);
    } catch (error) {
      entry.reject(error as Error);
    }
  }

  /**
   * Adds `jobs`, all of one queue. Every job's call is built (and its options checked by BullMQ)
   * before any is sent: a refused job means none is added. Repeats of an id within the call are
   * duplicates of its first occurrence.
   */
  async add(jobs: readonly JobToAdd[]): Promise<EnqueueResult[]> {
    if (jobs.length === 0) return [];
    const results: Array<EnqueueResult | undefined> = new Array(jobs.length);
    const firstOfId = new Map<string, number>();
    const withId: number[] = [];
    const withoutId: number[] = [];
    jobs.forEach((job, index) => {
      const jobId = job.opts.jobId;
      if (jobId === undefined) withoutId.push(index);
      else if (!firstOfId.has(jobId)) {
        firstOfId.set(jobId, index);
        withId.push(index);
      }
    });
    const prepared = withId.map((index) => this.prepare(jobs[index]!));
    const noIdJobs = withoutId.map((index) => ({ name: jobs[index]!.name, data: jobs[index]!.data, opts: jobs[index]!.opts }));
    for (const { name, data, opts } of noIdJobs) checkAddOptions(jobs[0]!.queue, name, data, opts);
    const [answers, addedWithoutId] = await Promise.all([
      prepared.length > 0 ? decideAndAdd(this.connection, prepared) : [],
      noIdJobs.length > 0 ? jobs[0]!.queue.addBulk(noIdJobs) : [],
    ]);
    const claimed: number[] = [];
    answers.forEach((answer, position) => {
      if (answer instanceof Error) throw answer;
      const index = withId[position]!;
      const jobId = jobs[index]!.opts.jobId!;
      if (answer.verdict === Verdict.New) results[index] = newResult(jobId, answer.added);
      else if (answer.verdict === Verdict.Duplicate) results[index] = { jobId, duplicate: true };
      else claimed.push(index);
    });
    withoutId.forEach((index, position) => (results[index] = { jobId: addedWithoutId[position]!.id!, duplicate: false }));
    if (claimed.length > 0) await this.addClaimed(jobs, claimed, results);
    await this.replicated(jobs[0]!.queue);
    jobs.forEach((job, index) => {
      if (results[index] === undefined) results[index] = { jobId: results[firstOfId.get(job.opts.jobId!)!]!.jobId, duplicate: true };
    });
    return results as EnqueueResult[];
  }

  /** The claim protocol for the ids `indexes` of `jobs`: decide and claim, remove a finished job, add, release. */
  private async addClaimed(
    jobs: readonly JobToAdd[],
    indexes: readonly number[],
    results: Array<EnqueueResult | undefined>,
  ): Promise<void> {
    const token = randomUUID();
    const claims: string[] = [];
    try {
      let undecided = [...indexes];
      const toAdd: number[] = [];
      const toRemove: number[] = [];
      const deadline = Date.now() + this.claimMs + 1_000;
      let retryMs = IN_FLIGHT_RETRY_MS;
      while (undecided.length > 0) {
        const verdicts = await decide(
          this.connection,
          undecided.map((index) => decision(jobs[index]!)),
          token,
          this.claimMs,
        );
        const inFlight: number[] = [];
        undecided.forEach((index, position) => {
          const verdict = verdicts[position];
          const job = jobs[index]!;
          if (verdict === Verdict.Duplicate) results[index] = { jobId: job.opts.jobId!, duplicate: true };
          else if (verdict === Verdict.InFlight) inFlight.push(index);
          else {
            claims.push(claimKey(job.queue, job.opts.jobId!));
            toAdd.push(index);
            if (verdict === Verdict.Replace) toRemove.push(index);
          }
        });
        undecided = inFlight;
        if (undecided.length > 0) {
          if (Date.now() > deadline) throw new Error('another producer kept adding the same job ids for longer than its claim');
          await sleep(retryMs);
          retryMs = Math.min(retryMs * 2, 250);
        }
      }
      await Promise.all(toRemove.map((index) => jobs[index]!.queue.remove(jobs[index]!.opts.jobId!)));
      if (toAdd.length > 0) {
        toAdd.sort((a, b) => a - b);
        const added = await jobs[0]!.queue.addBulk(
          toAdd.map((index) => ({ name: jobs[index]!.name, data: jobs[index]!.data, opts: jobs[index]!.opts })),
        );
        toAdd.forEach((index, position) => (results[index] = { jobId: added[position]!.id!, duplicate: false }));
      }
    } finally {
      void releaseClaims(this.connection, claims).catch(() => {});
    }
  }

  /**
   * Resolves once the replicas to wait for have every write this connection made so far. The adds
   * answered in one event-loop turn share one `WAIT`, sent after them on the same connection; the
   * number is the target's, held in memory (read once, at the first add, when not known yet). On a
   * cluster, one `WAIT` to the master of each queue written, for that master's replicas.
   */
  private replicated(queue: Queue): Promise<void> {
    if (this.replicas.current() === 0) return Promise.resolve();
    if (this.cluster && !this.written.has(queue.name)) this.written.set(queue.name, queue.toKey('id'));
    this.replication ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        this.replication = undefined;
        const written = [...this.written.values()];
        this.written.clear();
        this.waitForReplicas(written).then(resolve, reject);
      });
    });
    return this.replication;
  }

  private async waitForReplicas(written: readonly string[]): Promise<void> {
    // WAIT blocks this connection until then: short, and within the command timeout.
    const timeoutMs = Math.min(1_000, Math.floor(this.claimMs / 2));
    let wanted = this.replicas.current();
    if (wanted === undefined) {
      try {
        wanted = await this.replicas.ready(timeoutMs);
      } catch (error) {
        throw new ReplicationError(undefined, 0, { cause: error });
      }
    }
    if (wanted === 0) return;
    const nodes = this.cluster ? written.map((key) => nodeFor(this.connection, key)) : [this.connection as Redis];
    const answers = await Promise.all(
      nodes.map(async (node) => {
        if (!node) throw new ReplicationError(wanted, 0, { cause: new Error('no master known for the slot') });
        // On a cluster each master has its own replicas to wait for.
        const replicas = this.replicas.forMaster?.(`${node.options.host}:${node.options.port}`) ?? wanted!;
        return { replicas, confirmed: replicas === 0 ? 0 : await node.wait(replicas, timeoutMs) };
      }),
    );
    const short = answers.find(({ replicas, confirmed }) => confirmed < replicas);
    if (short) {
      this.replicas.shortfall();
      throw new ReplicationError(short.replicas, short.confirmed);
    }
  }

  /** Stops the target's reads (the connection is the caller's to close). */
  close(): Promise<void> {
    return this.replicas.close();
  }
}

/** An added job's result; a negative answer is BullMQ's add script refusing it. */
function newResult(jobId: string, added: string | number): EnqueueResult {
  if (typeof added === 'number' && added < 0) throw new Error(`BullMQ refused to add job ${jobId} (code ${added})`);
  return { jobId, duplicate: false };
}

function decision(job: JobToAdd): Decision {
  let data = '';
  if (job.window === 'pending-or-same-payload') data = job.digests ? digestsArgument(job.digests) : JSON.stringify(job.data);
  return { queue: job.queue, jobId: job.opts.jobId!, window: job.window, data };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
