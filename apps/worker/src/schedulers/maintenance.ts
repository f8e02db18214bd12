import type { JobName } from '@ceres/queues';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';

export interface MaintenanceSchedule {
  /** The job type; also the scheduler id, so every instance upserts the same one. */
  job: JobName<'maintenance'>;
  /** Cron pattern (5 fields, or 6 with seconds first). */
  pattern: string;
}

/** @defaultValue hourly cleanup, daily report at 09:00 (in `TZ`) */
export const DEFAULT_MAINTENANCE_SCHEDULES: readonly MaintenanceSchedule[] = [
  { job: 'clean-verification-tokens', pattern: '0 * * * *' },
  { job: 'daily-report', pattern: '0 9 * * *' },
];

/**
 * Upserts one BullMQ job scheduler per maintenance job. Called at every start by every instance:
 * an unchanged definition is left alone (its next run keeps its time), a changed pattern or time
 * zone replaces it. The scheduler creates one delayed job per tick with a deterministic id, so
 * however many instances run, each tick is one job, processed once.
 */
export async function upsertMaintenanceSchedulers(
  queue: Queue,
  timeZone: string,
  logger: Logger,
  schedules: readonly MaintenanceSchedule[] = DEFAULT_MAINTENANCE_SCHEDULES,
): Promise<Array<{ job: string; changed: boolean }>> {
  const outcome: Array<{ job: string; changed: boolean }> = [];
  for (const { job, pattern } of schedules) {
    const existing = await queue.getJobScheduler(job);
    if (existing && existing.pattern === pattern && (existing.tz ?? undefined) === timeZone) {
      outcome.push({ job, changed: false });
      continue;
    }
    await queue.upsertJobScheduler(job, { pattern, tz: timeZone }, { name: job, data: {} });
    logger.info({ scheduler: job, pattern, tz: timeZone, previous: existing?.pattern }, 'maintenance schedule upserted');
    outcome.push({ job, changed: true });
  }
  return outcome;
}
