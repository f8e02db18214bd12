import { MetricsTime, type WorkerOptions } from 'bullmq';
import { backoffStrategy } from './retry';

/**
 * Spread into every Worker's options: `new Worker(name, fn, { ...workerSettings, connection, … })`.
 * - `settings.backoffStrategy`: BullMQ only consults custom backoff strategies on the Worker.
 * - `metrics`: BullMQ's per-minute completed/failed counts: the ops surface exports them as
 *   Prometheus counters and the daily report sums the last 24 h; a week of minutes is about
 *   10k small points per queue.
 */
export const workerSettings = {
  settings: { backoffStrategy },
  metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
} as const satisfies Partial<WorkerOptions>;
