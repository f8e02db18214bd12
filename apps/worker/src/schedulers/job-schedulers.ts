import type { Queue } from 'bullmq';
import type { Logger } from 'pino';

export interface JobSchedulerSpec {
  /** The job type; also the scheduler id, so every instance upserts the same one. */
  job: string;
  /** Cron pattern (5 fields, or 6 with seconds first). */
  pattern: string;
}

/**
 * Upserts one BullMQ job scheduler per cron job type of `queue`. Called at every start by every
 * instance: an unchanged definition is left alone (its next run keeps its time), a changed pattern
 * or time zone replaces it. The scheduler creates one delayed job per tick with a deterministic
 * id, so however many instances run, each tick is one job, processed once.
 */
export async function upsertJobSchedulers(
  queue: Queue,
  timeZone: string,
  logger: Logger,
  schedules: readonly JobSchedulerSpec[],
): Promise<Array<{ job: string; changed: boolean }>> {
  const outcome: Array<{ job: string; changed: boolean }> = [];
  for (const { job, pattern } of schedules) {
    const existing = await queue.getJobScheduler(job);
    if (existing && existing.pattern === pattern && (existing.tz ?? undefined) === timeZone) {
      outcome.push({ job, changed: false });
      continue;
    }
    await queue.upsertJobScheduler(job, { pattern, tz: timeZone }, { name: job, data: {} });
    logger.info({ queue: queue.name, scheduler: job, pattern, tz: timeZone, previous: existing?.pattern }, 'job schedule upserted');
    outcome.push({ job, changed: true });
  }
  return outcome;
}
