import { QueueAdmin as SharedQueueAdmin, type QueueClient } from '@ceres/queues';
import { AmbiguousSchedulerError, UnknownQueueError, UnknownSchedulerError } from '../errors';

// The admin logic lives in @ceres/queues (the CLI uses it too); here its errors become HTTP errors.
export { CLEANABLE_STATES, JOB_STATES, type CleanableState, type JobState, type JobView, type QueueStats, type SchedulerView } from '@ceres/queues';

export class QueueAdmin extends SharedQueueAdmin {
  constructor(client: QueueClient) {
    super(client, {
      errors: {
        unknownQueue: (name, known) => new UnknownQueueError(name, known),
        unknownScheduler: (id, known) => new UnknownSchedulerError(id, known),
        ambiguousScheduler: (id, queues) => new AmbiguousSchedulerError(id, queues),
      },
    });
  }
}
