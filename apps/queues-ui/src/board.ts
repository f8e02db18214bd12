import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { registry, type QueueName } from '@ceres/queues';
import type { Queue } from 'bullmq';
import { maskJobData, maskReturnValue } from './board-formatters';
import { NO_COMPLETED_RETRIES } from './plugins/completed-retries';

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
}

/**
 * Bull Board over every registered queue, writable: failed jobs can be inspected (reason, stack,
 * data) and retried from the page. Returns the Fastify plugin to register at {@link BOARD_PREFIX}.
 */
export function createBoard({ queues, publicBasePath = '' }: BoardOptions) {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(`${publicBasePath}${BOARD_PREFIX}`);
  createBullBoard({
    queues: queues.map(
      ({ name, queue }) => {
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
        return adapter;
      },
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Ceres queues' } },
  });
  return serverAdapter.registerPlugin();
}
