import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { ERROR_CODES, errorResponse, sendError } from '@ceres/http';
import { NO_COMPLETED_RETRIES, registry, type QueueName } from '@ceres/queues';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { boardTenantRefusal, type BoardAccess } from './access/board-access';
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
  /** Who may do what on the board, and the audit of its actions (Bull Board's handler hooks). */
  access: BoardAccess;
}

/**
 * Bull Board over every registered queue, writable: failed jobs can be inspected (reason, stack,
 * data) and retried from the page. Returns the Fastify plugin to register at {@link BOARD_PREFIX}.
 */
export function createBoard({ queues, publicBasePath = '', isOutage, log, access }: BoardOptions) {
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
    options: { uiConfig: { boardTitle: 'Ceres queues' }, handlerHooks: access.hooks },
  });
  // Bull Board's own error handler answers every thrown error 500 with its message ("Command timed
  // out" while Redis hangs: the connection is still up, so the Redis gate lets requests through).
  // Replaced through the adapter's public setter: the app's one error shape, 503 for an outage.
  serverAdapter.setErrorHandler((error) => {
    const { statusCode, body } = errorResponse(error, { isOutage });
    if (statusCode === 500) log?.error({ err: error }, 'unexpected error in Bull Board');
    return { status: statusCode as BoardAnswer['status'], body };
  });
  const board = serverAdapter.registerPlugin();
  return async (scope: FastifyInstance) => {
    scope.addHook('onRequest', async (request, reply) => {
      // The page, its assets and its API: Bull Board cannot filter within a queue.
      if (request.principal.tenant !== null) return sendError(reply, boardTenantRefusal(request.principal.tenant));
      access.noteClient(request.headers, request.ip);
    });
    // A refusal of the handler hooks comes in Bull Board's envelope (`{ error: { key }, message }`):
    // answered in the app's one error shape, like every other error of the board's API.
    scope.addHook('preSerialization', async (_request, _reply, payload: unknown) => {
      const key = (payload as { error?: { key?: unknown } } | null)?.error?.key;
      if (typeof key !== 'string' || !(key in ERROR_CODES)) return payload;
      return { code: key, message: String((payload as { message?: unknown }).message ?? '') };
    });
    scope.addHook('onResponse', async (request, reply) => access.settle(request.headers, reply.statusCode));
    await scope.register(board);
  };
}
