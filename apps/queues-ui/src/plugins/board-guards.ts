import { registry, type JobDefinition, type QueueName } from '@ceres/queues';
import { definePlugin } from '@ceres/http';
import { queuePersonalFields, untenantedJobName } from '../board-formatters';
import { HttpError, sendError } from '../errors';

/** Queues holding the platform's crons: obliterating one removes its job schedulers. */
export const CRON_QUEUES: ReadonlySet<QueueName> = new Set(
  (Object.keys(registry) as QueueName[]).filter((queue) =>
    Object.values(registry[queue].jobs as Record<string, JobDefinition>).some((job) => job.schedule),
  ),
);

/**
 * Refuses two Bull Board actions that go around the platform's rules (403, the app's error shape):
 * - "Add job" of a job type with personal fields, or with a personal field in its data: Bull Board
 *   writes the data as typed, in clear, while producers encrypt those fields; this app holds no key
 *   (and should not), so it cannot seal them.
 * - "Obliterate" of a queue holding crons: it removes the job schedulers with the jobs, and only a
 *   worker restart brings them back; the crons would silently stop.
 *
 * And it gives "Add job" (and "Duplicate", which fills in the name the board shows) the job type's
 * own name back: the board shows names with their tenant (`alert · tenant acme`, board-formatters.ts).
 */
export const boardGuardsPlugin = definePlugin<{ boardPrefix: string }>(
  { name: '@ceres/queues-ui/board-guards', dependencies: ['@ceres/queues-ui/redis-gate'] },
  async (app, { boardPrefix }) => {
    const add = `${boardPrefix}/api/queues/:queueName/add`;
    const obliterate = `${boardPrefix}/api/queues/:queueName/obliterate`;
    app.addHook('preHandler', async (request, reply) => {
      const url = request.routeOptions.url;
      if (url !== add && url !== obliterate) return;
      const queue = (request.params as { queueName?: string }).queueName as QueueName;
      if (!(queue in registry)) return;
      if (url === obliterate) {
        if (!CRON_QUEUES.has(queue)) return;
        return sendError(
          reply,
          new HttpError(
            'OBLITERATE_DISABLED',
            `the ${queue} queue holds the platform's cron job schedulers: obliterating it would remove them and the crons would stop until a worker restarts; clean or empty its jobs instead`,
          ),
        );
      }
      const body = (request.body ?? {}) as { name?: unknown; data?: unknown };
      if (typeof body.name === 'string') body.name = untenantedJobName(body.name);
      const { name, data } = body;
      const definition = typeof name === 'string' ? (registry[queue].jobs as Record<string, JobDefinition | undefined>)[name] : undefined;
      const declared = definition?.personal ?? [];
      const personal = queuePersonalFields(queue);
      const inData = data !== null && typeof data === 'object' ? Object.keys(data).filter((field) => personal.has(field)) : [];
      if (declared.length === 0 && inData.length === 0) return;
      return sendError(
        reply,
        new HttpError(
          'ADD_JOB_DISABLED',
          `${queue}/${String(name).slice(0, 100)} jobs carry personal fields (${[...new Set([...declared, ...inData])].join(', ')}) that are stored encrypted: add them through the API or the producers, which encrypt them, not from Bull Board`,
        ),
      );
    });
  },
);
