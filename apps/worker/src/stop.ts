import type { Worker } from 'bullmq';

/** A job taken by this process whose outcome Redis has not recorded. */
export interface LeftJob {
  queue: string;
  jobId: string;
}

export interface StopOptions {
  /** The runner's graceful (or forced) close: it waits for Redis, so it may never settle. */
  closing: Promise<void>;
  workers: Iterable<Worker>;
  /** The jobs running now. */
  activeJobs(): LeftJob[];
  outage: { readonly down: boolean; readonly since: number | undefined };
  /** `WORKER_LOCK_DURATION_MS`: how long a job's lock outlives its last renewal. */
  lockDurationMs: number;
  /** A forced stop does not wait for active jobs to finish. */
  force: boolean;
  /** Drops the connections without waiting for Redis. */
  abandon(): void;
  /** @defaultValue 100 */
  pollMs?: number;
}

/**
 * Waits for `closing`, unless Redis is unreachable: BullMQ's close waits for Redis, so a worker
 * told to stop during an outage would hang until PM2's kill timeout. Then, with no job taken, it
 * stops at once; with jobs taken, it waits only while they can still finish, i.e. until their
 * locks expire (they cannot be renewed since the outage began; after that another worker's
 * stalled-job check may run them anyway), and gives up on them. Resolves with the jobs left.
 */
export async function closeOrGiveUp(options: StopOptions): Promise<{ left: LeftJob[] }> {
  const key = (job: LeftJob) => `${job.queue}\u0000${job.jobId}`;
  // The jobs taken by this process until Redis records their end (the workers' own events).
  const taken = new Map<string, LeftJob>(options.activeJobs().map((job) => [key(job), job]));
  const recorded = (job: { id?: string; queueName: string } | undefined) => {
    if (job?.id !== undefined) taken.delete(key({ queue: job.queueName, jobId: job.id }));
  };
  const workers = [...options.workers];
  for (const worker of workers) worker.on('completed', recorded).on('failed', recorded);
  let settled = false;
  const closed = options.closing.then(
    () => (settled = true),
    () => (settled = true),
  );
  try {
    for (;;) {
      if (settled) return { left: [] };
      for (const job of options.activeJobs()) taken.set(key(job), job);
      if (options.outage.down) {
        const since = options.outage.since ?? Date.now();
        if (taken.size === 0 || options.force || Date.now() >= since + options.lockDurationMs) {
          options.abandon();
          return { left: [...taken.values()] };
        }
      }
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100))]);
    }
  } finally {
    for (const worker of workers) worker.off('completed', recorded).off('failed', recorded);
  }
}
