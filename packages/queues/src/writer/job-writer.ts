import { randomUUID } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DuplicateWindow } from '../jobs/define';
import { ReplicationError } from '../errors/replication-error';
import { claimKey } from './ceres-keys';
import { decide, defineLayoutScripts, digestsArgument, releaseClaims, Verdict, type Decision } from './bullmq-layout';

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
}

export interface EnqueueResult {
  jobId: string;
  /** True exactly when this enqueue added nothing: a job with this id counts as the same job. */
  duplicate: boolean;
}

export interface JobWriterOptions {
  /** The producer connection the queues use; the writer's scripts run on it. */
  connection: Redis;
  /**
   * How long a claim on a job id lasts if its producer dies between deciding and adding: a
   * concurrent enqueue of the same id waits for it at most this long.
   * @defaultValue 5000
   */
  claimMs?: number;
  /**
   * Replicas that must confirm an add (Redis `WAIT`) before it succeeds; a shortfall rejects with
   * {@link ReplicationError}. @defaultValue 0
   */
  waitReplicas?: number;
}

/** `addSoon` decides at the latest at the end of the event-loop turn, earlier once this many wait. */
export const SOON_BATCH_MAX = 16;
/** First wait before asking again about an id another producer is adding; doubles up to the claim's life. */
const IN_FLIGHT_RETRY_MS = 2;

interface Pending {
  job: JobToAdd;
  resolve: (result: EnqueueResult) => void;
  reject: (error: Error) => void;
  /** Set once an answer was "in flight": when to stop asking. */
  deadline?: number;
  retryMs?: number;
}

/**
 * Writes jobs through BullMQ's public API (`Queue.add`, `Queue.addBulk`), each job with a
 * deterministic id first decided by one script (see bullmq-layout.ts): new, a duplicate, or a
 * finished job that a new one replaces under the same id. `addSoon` decides the adds made close
 * together (an API answering many requests at once) in one round trip, at the end of the
 * event-loop turn or once {@link SOON_BATCH_MAX} wait, and settles each job on its own. `addNow`
 * adds a batch in one go.
 */
export class JobWriter {
  private pending: Pending[] = [];
  private flushScheduled = false;
  private readonly connection: Redis;
  private readonly claimMs: number;
  private readonly waitReplicas: number;
  private replication: Promise<void> | undefined;

  constructor(options: JobWriterOptions) {
    this.connection = options.connection;
    this.claimMs = options.claimMs ?? 5_000;
    this.waitReplicas = options.waitReplicas ?? 0;
    defineLayoutScripts(this.connection);
  }

  addSoon(job: JobToAdd): Promise<EnqueueResult> {
    return new Promise((resolve, reject) => this.queueForDecision({ job, resolve, reject }));
  }

  /**
   * Adds `jobs`, all of one queue, with `Queue.addBulk`: one round trip, each job atomic. A job whose
   * options BullMQ refuses means none is added.
   */
  async addNow(jobs: readonly JobToAdd[]): Promise<EnqueueResult[]> {
    if (jobs.length === 0) return [];
    const token = randomUUID();
    const results: Array<EnqueueResult | undefined> = new Array(jobs.length);
    const claims: string[] = [];
    try {
      // Repeats of an id within the batch are duplicates of its first occurrence.
      const firstOfId = new Map<string, number>();
      let undecided: number[] = [];
      jobs.forEach((job, index) => {
        const jobId = job.opts.jobId;
        if (jobId === undefined) return;
        if (firstOfId.has(jobId)) results[index] = { jobId, duplicate: true };
        else {
          firstOfId.set(jobId, index);
          undecided.push(index);
        }
      });
      const toAdd: number[] = jobs.map((job, index) => index).filter((index) => jobs[index]!.opts.jobId === undefined);
      const toRemove: number[] = [];
      const deadline = Date.now() + this.claimMs + 1_000;
      let retryMs = IN_FLIGHT_RETRY_MS;
      while (undecided.length > 0) {
        const verdicts = await decide(this.connection, undecided.map((index) => decision(jobs[index]!)), token, this.claimMs);
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
        // One queue per batch (a batch is one job type). BullMQ checks every job's options before
        // it sends any, so a refused job means none is added.
        const added = await jobs[0]!.queue.addBulk(toAdd.map((index) => ({ name: jobs[index]!.name, data: jobs[index]!.data, opts: jobs[index]!.opts })));
        await this.replicated();
        toAdd.forEach((index, position) => (results[index] = { jobId: added[position]!.id!, duplicate: false }));
      }
      return results as EnqueueResult[];
    } finally {
      void releaseClaims(this.connection, claims).catch(() => {});
    }
  }

  private queueForDecision(entry: Pending): void {
    this.pending.push(entry);
    if (this.pending.length >= SOON_BATCH_MAX) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // setImmediate, not nextTick: it runs once the requests read in this poll phase are in.
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const withId: Pending[] = [];
    // Repeats of an id in one batch follow its first occurrence.
    const repeats = new Map<string, Pending[]>();
    for (const entry of batch) {
      const jobId = entry.job.opts.jobId;
      if (jobId === undefined) {
        this.add(entry.job).then(entry.resolve, entry.reject);
        continue;
      }
      const key = entry.job.queue.toKey(jobId);
      const earlier = repeats.get(key);
      if (earlier) earlier.push(entry);
      else {
        repeats.set(key, []);
        withId.push(entry);
      }
    }
    if (withId.length === 0) return;
    const token = randomUUID();
    decide(this.connection, withId.map((entry) => decision(entry.job)), token, this.claimMs).then(
      (verdicts) => {
        const claims: string[] = [];
        const adds: Array<Promise<unknown>> = [];
        this.coalesceWrites();
        withId.forEach((entry, position) => {
          const { job } = entry;
          const jobId = job.opts.jobId!;
          const followers = repeats.get(job.queue.toKey(jobId))!;
          const verdict = verdicts[position];
          if (verdict === Verdict.InFlight) {
            this.retryLater(entry);
            followers.forEach((follower) => this.retryLater(follower));
            return;
          }
          if (verdict === Verdict.Duplicate) {
            entry.resolve({ jobId, duplicate: true });
            followers.forEach((follower) => follower.resolve({ jobId, duplicate: true }));
            return;
          }
          claims.push(claimKey(job.queue, jobId));
          const adding = (verdict === Verdict.Replace ? job.queue.remove(jobId).then(() => this.add(job)) : this.add(job)).then(
            (result) => {
              entry.resolve(result);
              followers.forEach((follower) => follower.resolve({ jobId: result.jobId, duplicate: true }));
            },
            (error: Error) => {
              entry.reject(error);
              followers.forEach((follower) => follower.reject(error));
            },
          );
          adds.push(adding);
        });
        if (claims.length > 0) void Promise.allSettled(adds).then(() => releaseClaims(this.connection, claims).catch(() => {}));
      },
      (error: Error) => {
        for (const entry of batch) if (entry.job.opts.jobId !== undefined) entry.reject(error);
      },
    );
  }

  /**
   * Holds the connection's socket writes until the end of this event-loop turn: the adds that
   * follow a decision (`Queue.add` writes after a few promise steps, never after I/O) then leave
   * in one write instead of one per job. Only the grouping into writes changes, not the order.
   */
  private coalesceWrites(): void {
    const stream = this.connection.stream;
    if (!stream || stream.writableCorked > 0) return;
    stream.cork();
    setImmediate(() => stream.uncork());
  }

  /** Asks again about an id another producer is adding, until its add lands or its claim expires. */
  private retryLater(entry: Pending): void {
    const now = Date.now();
    entry.deadline ??= now + this.claimMs + 1_000;
    if (now > entry.deadline) {
      entry.reject(new Error(`another producer kept adding job ${entry.job.opts.jobId} for longer than its claim`));
      return;
    }
    const wait = (entry.retryMs = Math.min((entry.retryMs ?? IN_FLIGHT_RETRY_MS / 2) * 2, 250));
    setTimeout(() => this.queueForDecision(entry), wait);
  }

  private async add({ queue, name, data, opts }: JobToAdd): Promise<EnqueueResult> {
    const job = await queue.add(name, data, opts);
    await this.replicated();
    return { jobId: job.id!, duplicate: false };
  }

  /**
   * Resolves once `waitReplicas` replicas have every write this connection made so far. The adds
   * answered in one event-loop turn share one `WAIT`, sent after them on the same connection.
   */
  private replicated(): Promise<void> {
    if (this.waitReplicas === 0) return Promise.resolve();
    this.replication ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        this.replication = undefined;
        // WAIT blocks this connection until then: short, and within the command timeout.
        const timeoutMs = Math.min(1_000, Math.floor(this.claimMs / 2));
        this.connection.wait(this.waitReplicas, timeoutMs).then(
          (confirmed) => (confirmed >= this.waitReplicas ? resolve() : reject(new ReplicationError(this.waitReplicas, confirmed))),
          reject,
        );
      });
    });
    return this.replication;
  }
}

function decision(job: JobToAdd): Decision {
  let data = '';
  if (job.window === 'pending-or-same-payload') data = job.digests ? digestsArgument(job.digests) : JSON.stringify(job.data);
  return { queue: job.queue, jobId: job.opts.jobId!, window: job.window, data };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
