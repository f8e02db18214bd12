import type { Queue } from 'bullmq';
import { QueueClient, type EnqueueResult } from './client';
import type { JobType, OptionsOf, Payload, PlatformJobType, QueueName } from './registry';
import type { TenantOption } from './tenant';

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

/**
 * Validates and enqueues one job of a platform job type on the default client, e.g.
 * `enqueue('email/verify', { userId, email, firstName, token })`. The payload and the options are
 * typed from the job's definition file; `options.tenant` names the tenant (municipality) the job is
 * for (`default` when absent).
 */
export function enqueue<T extends PlatformJobType>(
  type: T,
  payload: Payload<T>,
  options?: OptionsOf<T> & TenantOption,
): Promise<EnqueueResult> {
  return defaultQueueClient().enqueue<JobType>(type, payload as never, options as never);
}

/**
 * A producer bound to one job type: `producer('email/verify')(payload)`. The named producers
 * (`enqueueEmailVerify`, …: one per platform job type) are written by scripts/gen-catalog.mjs in
 * named-producers.ts.
 */
export const producer =
  <T extends PlatformJobType>(type: T) =>
  (payload: Payload<T>, options?: OptionsOf<T> & TenantOption): Promise<EnqueueResult> =>
    enqueue(type, payload, options);
