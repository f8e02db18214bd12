import { registry } from '@ceres/queues';

/** The job every pair enqueues: an email/verify payload, valid for the registry's schema. */
export const verifyPayload = (userId: string) => ({
  userId,
  email: 'bench@example.com',
  firstName: 'Bench',
  token: 'abcdefghijklmnop1234',
});

/** Options of every job both sides of the worker pairs consume: the registry's, so only the worker differs. */
export const emailJobOptions = registry.email.defaultJobOptions;

/** `REDIS_URL` carries no database, so the apps use DB 5; the raw sides use the same. */
export const REDIS_DB = 5;

/** Wall-clock time in ms with sub-ms decimals, comparable across processes of one machine. */
export const wallClockMs = () => performance.timeOrigin + performance.now();
