import type { QueueClient } from '@ceres/queues';

/** How long /health waits for PONG before calling Redis down. */
export const HEALTH_PING_TIMEOUT_MS = 300;

/** PING on the producer connection, bounded by a timeout: true when Redis answered in time. */
export function pingRedis(queues: QueueClient, timeoutMs = HEALTH_PING_TIMEOUT_MS): Promise<boolean> {
  return queues.ping(timeoutMs);
}
