import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { errorResponse } from '@ceres/http';
import { NO_COMPLETED_RETRIES, registry, type QueueName } from '@ceres/queues';
import type { Queue } from 'bullmq';
import { jobNameWithTenant, maskJobData, maskReturnValue } from './board-formatters';

/** What a Bull Board error handler returns (its status is a union of HTTP codes). */
type BoardAnswer = ReturnType<Parameters<FastifyAdapter['setErrorHandler']>[0]>;

/** Where Fastify mounts the dashboard. */
export const BOARD_PREFIX = '/ui';

export interface BoardOptions {
  queues: ReadonlyArray<{ name: QueueName; queue: Queue }>;
  /**
   * The public path prefix a reverse proxy strips before forwarding, e.g. `/ops`: the page then
   * loads its assets and API from `/ops/ui/…` while Fastify still serves them at `/ui/…`.
   * @defaultValue `''`
   */
  publicBasePath?: string;
  /** Whether an error of a board action means Redis is unavailable (`QueueClient.isOutage`). */
  isOutage?: (error: unknown) => boolean;
  /** Where an unexpected error of the board's API is logged (pino). */
  log?: { error(fields: object, message: string): void };
}

/**
 * Bull Board over every registered queue, writable: failed jobs can be inspected (reason, stack,
 * data) and retried from the page. Returns the Fastify plugin to register at {@link BOARD_PREFIX}.
 */
export function createBoard({ queues, publicBasePath = '', isOutage, log }: BoardOptions) {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(`${publicBasePath}${BOARD_PREFIX}`);
  createBullBoard({
    queues: queues.map(({ name, queue }) => {
      const options = {
        readOnlyMode: false,
        allowRetries: true,
        // Hides "Retry" on completed jobs where a re-run re-sends a mail (the server refuses it
        // too, see completed-retries.ts). Read by Bull Board 9's BaseAdapter, missing from its typings.
        allowCompletedRetries: !NO_COMPLETED_RETRIES.has(name),
        description: Object.values(registry[name].jobs)
          .map((job) => job.description)
          .join(' · '),
      };
      const adapter = new BullMQAdapter(queue, options);
      // Personal fields masked on every tab (see board-formatters.ts).
      adapter.setFormatter('data', maskJobData(name));
      adapter.setFormatter('returnValue', maskReturnValue);
      // Each job's tenant beside its name (see board-formatters.ts).
      adapter.setFormatter('name', jobNameWithTenant);
      return adapter;
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Ceres queues' } },
  });
  // Bull Board's own error handler answers every thrown error 500 with its message ("Command timed
  // out" while Redis hangs: the connection is still up, so the Redis gate lets requests through).
  // Replaced through the adapter's public setter: the app's one error shape, 503 for an outage.
  serverAdapter.setErrorHandler((error) => {
    const { statusCode, body } = errorResponse(error, { isOutage });
    if (statusCode === 500) log?.error({ err: error }, 'unexpected error in Bull Board');
    return { status: statusCode as BoardAnswer['status'], body };
  });
  return serverAdapter.registerPlugin();
}
