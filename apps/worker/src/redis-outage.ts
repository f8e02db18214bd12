import type { RedisClient } from '@ceres/queues';
import type { Logger } from 'pino';
import { errorSummary } from './redact';

/** Socket errors that mean the connection to Redis is gone (not a command's error). */
const CONNECTION_LOSS_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
const LOSS_RECHECK_MS = 1_000;

export function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECTION_LOSS_CODES.has(code);
}

/**
 * Whether the workers' Redis connections are down, from their own events. An outage is logged
 * once when it starts and once when it ends (as the API does), instead of a `worker error` line per
 * queue per reconnect attempt (hundreds a minute); the errors it absorbs are counted in the end line.
 */
export class RedisOutage {
  private readonly watched = new Set<RedisClient>();
  private startedAt: number | undefined;
  private absorbed = 0;
  private stopped = false;

  constructor(private readonly logger: Logger) {}

  /** Follows a connection until it ends (a `disconnect` or `quit`: not an outage). */
  watch(connection: RedisClient): void {
    this.watched.add(connection);
    // ioredis emits `reconnecting` only for a connection it lost, never for one closed on purpose.
    connection.on('reconnecting', () => this.begin());
    connection.on('ready', () => this.maybeEnd());
    connection.once('end', () => {
      this.watched.delete(connection);
      this.maybeEnd();
    });
  }

  /** Redis is unreachable now (some watched connection is not ready). */
  get down(): boolean {
    return this.startedAt !== undefined || [...this.watched].some((connection) => connection.status !== 'ready');
  }

  /** When the current outage started (`Date.now()`), or undefined while Redis is reachable. */
  get since(): number | undefined {
    return this.startedAt;
  }

  /**
   * A worker's `error` during an outage (the reconnect attempts' refusals) is counted instead of
   * logged; returns whether it was.
   */
  absorb(error: unknown): boolean {
    if (!this.down) {
      if (!isConnectionLoss(error)) return false;
      // Redis went away and this socket's error came before any connection changed its status:
      // the outage starts here (below). A blip that never takes a watched connection down ends it
      // on the next look.
      setTimeout(() => this.maybeEnd(), LOSS_RECHECK_MS).unref();
    }
    this.begin();
    this.absorbed++;
    this.logger.debug({ err: errorSummary(error) }, 'worker error during the redis outage');
    return true;
  }

  /** No more start or end lines (the worker is closing its connections); the state is still followed. */
  stop(): void {
    this.stopped = true;
  }

  private begin(): void {
    if (this.startedAt !== undefined) return;
    this.startedAt = Date.now();
    this.absorbed = 0;
    if (!this.stopped) this.logger.warn('redis connection lost; no job is taken or finished until it is back (reconnecting)');
  }

  private maybeEnd(): void {
    if (this.startedAt === undefined || [...this.watched].some((connection) => connection.status !== 'ready')) return;
    const durationMs = Date.now() - this.startedAt;
    this.startedAt = undefined;
    if (!this.stopped) this.logger.info({ durationMs, workerErrors: this.absorbed }, 'redis is reachable again; the workers resume');
  }
}
