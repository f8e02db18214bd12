import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { registry, type QueueName } from '@ceres/queues';
import type { Queue } from 'bullmq';

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
      ({ name, queue }) =>
        new BullMQAdapter(queue, {
          readOnlyMode: false,
          allowRetries: true,
          description: Object.values(registry[name].jobs)
            .map((job) => job.description)
            .join(' · '),
        }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Ceres queues' } },
  });
  return serverAdapter.registerPlugin();
}
