import type { Queue } from 'bullmq';
import { QueueClient, type EnqueueResult } from './client';
import type { QueueName } from './registry';
import type { EnqueueOptions } from './schemas/enqueue-options';
import type {
  EmailVerifyPayload,
  EmailWelcomePayload,
  OptimizeProfilePicturePayload,
  SlackAlertPayload,
  ValidateCvPayload,
} from './schemas';

let defaultClient: QueueClient | undefined;

/** The process-wide client, built from the environment on first use (importing opens nothing). */
export function defaultQueueClient(): QueueClient {
  defaultClient ??= new QueueClient();
  return defaultClient;
}

/** The BullMQ `Queue` of a registered queue, e.g. `getQueue('email').getJob('email:verify:user-123')`. */
export function getQueue(name: QueueName): Queue {
  return defaultQueueClient().getQueue(name);
}

/** Closes the default client's queues and connection; the next call opens new ones. */
export async function closeQueues(): Promise<void> {
  const client = defaultClient;
  defaultClient = undefined;
  await client?.close();
}

type Delayable = Pick<EnqueueOptions, 'delay'>;

export const enqueueEmailVerify = (payload: EmailVerifyPayload, options?: EnqueueOptions): Promise<EnqueueResult> =>
  defaultQueueClient().enqueue('email', 'verify', payload, options);

export const enqueueEmailWelcome = (payload: EmailWelcomePayload, options?: EnqueueOptions): Promise<EnqueueResult> =>
  defaultQueueClient().enqueue('email', 'welcome', payload, options);

export const enqueueSlackAlert = (payload: SlackAlertPayload, options?: Delayable): Promise<EnqueueResult> =>
  defaultQueueClient().enqueue('slack', 'alert', payload, options);

export const enqueueValidateCv = (payload: ValidateCvPayload, options?: EnqueueOptions): Promise<EnqueueResult> =>
  defaultQueueClient().enqueue('files', 'validate-cv', payload, options);

export const enqueueOptimizeProfilePicture = (
  payload: OptimizeProfilePicturePayload,
  options?: EnqueueOptions,
): Promise<EnqueueResult> => defaultQueueClient().enqueue('files', 'optimize-profile-picture', payload, options);
