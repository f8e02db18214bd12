import { QueueAdmin as SharedQueueAdmin, type QueueClient } from '@ceres/queues';
import { ambiguousScheduler, unknownQueue, unknownScheduler } from '../errors';

// The admin logic lives in @ceres/queues (the CLI uses it too); here its errors become HTTP errors.
export { CLEANABLE_STATES, JOB_STATES, type CleanableState, type JobState, type JobView, type QueueStats, type SchedulerView } from '@ceres/queues';

export class QueueAdmin extends SharedQueueAdmin {
  constructor(client: QueueClient) {
    super(client, { errors: { unknownQueue, unknownScheduler, ambiguousScheduler } });
  }
}
