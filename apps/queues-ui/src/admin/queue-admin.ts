import { maskEmails } from '@ceres/app-kit';
import { QueueAdmin as SharedQueueAdmin, type JobState, type JobView, type QueueClient, type QueueName } from '@ceres/queues';
import { maskJobData } from '../board-formatters';
import { ambiguousScheduler, unknownQueue, unknownScheduler } from '../errors';

// The admin logic lives in @ceres/queues (the CLI uses it too); here its errors become HTTP errors.
export {
  CLEANABLE_STATES,
  JOB_STATES,
  type CleanableState,
  type JobState,
  type JobView,
  type QueueStats,
  type SchedulerView,
} from '@ceres/queues';

export class QueueAdmin extends SharedQueueAdmin {
  constructor(client: QueueClient) {
    super(client, { errors: { unknownQueue, unknownScheduler, ambiguousScheduler } });
  }

  /** The jobs masked as on Bull Board's pages (board-formatters.ts): no personal field, no address in a reason. */
  override async jobs(
    name: string,
    state: JobState,
    start: number,
    end: number,
    tenant?: string,
  ): Promise<{ total: number; jobs: JobView[] }> {
    const listed = await super.jobs(name, state, start, end, tenant);
    const mask = maskJobData(name as QueueName);
    return {
      total: listed.total,
      jobs: listed.jobs.map((job) => ({
        ...job,
        data: mask(job.data),
        failedReason: job.failedReason === null ? null : maskEmails(job.failedReason),
        stacktrace: job.stacktrace.map((line) => maskEmails(line)),
      })),
    };
  }
}
