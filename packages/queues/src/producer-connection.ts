import { withTimeout } from '@ceres/app-kit';
import { Cluster } from 'ioredis';
import type { QueuesConfig } from './config';
import { connectionConfigError, createRedisConnection, type ConnectionOptions, type RedisClient } from './connection';
import { QueueUnavailableError } from './errors/queue-unavailable-error';

/**
 * A producer's Redis connection and what its state means: ready or not, an error an outage (503)
 * or a fault. The ioredis instance stays inside @ceres/queues (the queues, the writer and the
 * store use it); apps see only these questions and {@link ProducerConnection.onChange}.
 */
export class ProducerConnection {
  private firstConnect: Promise<void> | undefined;

  constructor(
    config: QueuesConfig,
    options: ConnectionOptions,
    /** The connection itself, for this package's modules only (not re-exported by index.ts). */
    readonly redis: RedisClient = createRedisConnection(config, 'producer', options),
  ) {}

  /**
   * True while the connection can take commands: connected, and its socket still writable (when
   * Redis goes away, the socket ends a moment before ioredis leaves the `ready` state).
   */
  isReady(): boolean {
    // A cluster connection has a socket per node: its status says whether it can route commands.
    return this.redis.status === 'ready' && (this.redis instanceof Cluster || this.redis.stream?.writable === true);
  }

  /**
   * Whether `error`, from a call on this connection, means Redis is unavailable (answer 503, retry
   * later) rather than a fault: the connection is not ready, or a command outlived
   * `REDIS_COMMAND_TIMEOUT_MS` (Redis hung), or Redis refused every write (see {@link redisRefusal}).
   */
  isOutage(error: unknown): boolean {
    // ioredis rejects a timed-out command with a plain Error carrying this message.
    return (
      !this.isReady() ||
      (error instanceof Error && error.message === 'Command timed out') ||
      redisRefusal(error) !== undefined ||
      (this.redis instanceof Cluster && error instanceof Error && CLUSTER_LOSS.test(error.message))
    );
  }

  /**
   * Resolves once the connection can take commands. The first connect of a fresh client is
   * awaited (app code may enqueue right at startup); once Redis has been lost, or when the first
   * connect fails, it throws {@link QueueUnavailableError} at once instead of waiting. A
   * `REDIS_URL` database the server does not have throws its `ConfigError`, now and on every call.
   */
  async ready(): Promise<void> {
    const misconfigured = connectionConfigError(this.redis);
    if (misconfigured) throw misconfigured;
    if (this.isReady()) return;
    if (!['wait', 'connecting', 'connect'].includes(this.redis.status)) throw new QueueUnavailableError();
    // One wait shared by every caller, rather than three listeners per waiting enqueue.
    this.firstConnect ??= new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        this.redis.off('ready', onReady).off('error', onError).off('end', onError);
        this.firstConnect = undefined;
        if (error) reject(connectionConfigError(this.redis) ?? new QueueUnavailableError({ cause: error }));
        else resolve();
      };
      const onReady = () => settle();
      const onError = (error?: Error) => settle(error ?? new Error('connection ended'));
      this.redis.once('ready', onReady).once('error', onError).once('end', onError);
    });
    return this.firstConnect;
  }

  /** PING bounded by `timeoutMs`: true when Redis answered PONG in time (a health check). */
  async ping(timeoutMs: number): Promise<boolean> {
    if (!this.isReady()) return false;
    return withTimeout(this.redis.ping(), timeoutMs, 'redis PING').then(
      (reply) => reply === 'PONG',
      () => false,
    );
  }

  /** Calls `listener` when the connection becomes ready (`up`) or is lost (`down`); returns the unsubscribe. */
  onChange(listener: (state: 'up' | 'down') => void): () => void {
    const up = () => listener('up');
    const down = () => listener('down');
    this.redis.on('ready', up).on('close', down);
    return () => void this.redis.off('ready', up).off('close', down);
  }

  /** A failed call during an outage is a {@link QueueUnavailableError}; any other error stays as it is. */
  async unavailableIfDown<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      hideCommand(error);
      if (this.isOutage(error)) throw new QueueUnavailableError({ cause: error, reason: redisRefusal(error) });
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.redis.status !== 'end') await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/**
 * Redis answers that mean "not now" for every write, whatever the job: out of memory under
 * `noeviction`, a failed disk write (MISCONF), a replica or a loading server. Script errors wrap
 * them ("… OOM command not allowed …"), so the code is looked for anywhere in the message.
 */
const REFUSALS: Array<[RegExp, string]> = [
  [/\bOOM\b/, 'Redis is out of memory'],
  [/\bMISCONF\b/, 'Redis cannot persist to disk'],
  [/\bREADONLY\b/, 'Redis is a read-only replica'],
  [/\bLOADING\b/, 'Redis is loading its data'],
  [/\bMASTERDOWN\b/, 'Redis has lost its primary'],
  [/\bCLUSTERDOWN\b/, 'the Redis Cluster is down (a slot without a master, until a replica takes over)'],
  [/\bTRYAGAIN\b/, 'the Redis Cluster is moving the slot'],
];

/**
 * What ioredis' cluster connection says while the master of a slot is gone (one node's socket
 * closed under a command, redirections run out while its replica takes over): an outage of that
 * shard, though the connection as a whole stays ready.
 */
const CLUSTER_LOSS =
  /^Connection is closed\.|^Too many Cluster redirections|^Failed to refresh slots cache|^None of startup nodes is available/;

/** Why Redis refused the write, when the refusal is an outage; undefined otherwise. */
export function redisRefusal(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return undefined;
  return REFUSALS.find(([pattern]) => pattern.test(error.message))?.[1];
}

/**
 * ioredis puts the failed command, arguments included, on its errors as `command`: for an add
 * that is the whole payload (addresses, tokens). Made non-enumerable, loggers skip it.
 */
function hideCommand(error: unknown): void {
  if (error !== null && typeof error === 'object' && Object.prototype.hasOwnProperty.call(error, 'command')) {
    Object.defineProperty(error, 'command', { enumerable: false });
  }
}
