import type { BackoffStrategy } from 'bullmq';

/** The wait before each retry: 1 s, 5 s, 15 s, 60 s, 300 s (about 6 min 21 s in all). */
export const RETRY_DELAYS_MS = [1_000, 5_000, 15_000, 60_000, 300_000] as const;

/** The first attempt plus one retry per delay. */
export const SCHEDULE_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

/** The name jobs carry in `opts.backoff.type`; BullMQ hands it to the Worker's strategy. */
export const RETRY_BACKOFF_TYPE = 'ceres-schedule';

/**
 * The delay before the next attempt after `attemptsMade` failed attempts (1-based, as BullMQ
 * counts). Past the end of the schedule it keeps the last delay.
 */
export function retryDelay(attemptsMade: number): number {
  if (!Number.isInteger(attemptsMade) || attemptsMade < 1) {
    throw new RangeError(`attemptsMade must be a positive integer, got ${attemptsMade}`);
  }
  return RETRY_DELAYS_MS[Math.min(attemptsMade, RETRY_DELAYS_MS.length) - 1]!;
}

/**
 * BullMQ only consults custom strategies on the Worker (`settings.backoffStrategy`); a Queue
 * ignores them. Built-in types (`fixed`, `exponential`) never reach this function.
 */
export const backoffStrategy: BackoffStrategy = (attemptsMade, type) => {
  if (type === RETRY_BACKOFF_TYPE) return retryDelay(attemptsMade);
  throw new Error(`unknown backoff type "${type}"`);
};

/** Attempts and backoff of a queue that follows the 1 s → 5 s → 15 s → 60 s → 300 s schedule. */
export const onRetrySchedule = { attempts: SCHEDULE_ATTEMPTS, backoff: { type: RETRY_BACKOFF_TYPE } } as const;
