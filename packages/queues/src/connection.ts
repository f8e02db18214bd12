import { ConfigError } from '@ceres/app-kit';
import keySlot from 'cluster-key-slot';
import { Cluster, Redis, ReplyError, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { QueuesConfig } from './config';
import { followFailovers } from './sentinel-switch';

/**
 * `producer`: fails fast — no offline queue, one retry per request, a command timeout — so an
 * outage is an error the caller can answer (503), never a hang. Not auto-pipelined: `QueueClient`'s JobWriter
 * batches the adds itself, and ioredis' auto-pipelining builds a pipeline object per tick.
 * `worker`: BullMQ's blocking commands need `maxRetriesPerRequest: null`; the offline queue
 * stays on so a worker rides out a Redis restart and resumes by itself.
 */
export type ConnectionRole = 'producer' | 'worker';

export interface ConnectionOptions {
  /** Shown in `CLIENT LIST`, handy when several apps share one Redis. */
  connectionName?: string;
  /** Where server warnings (old version, evicting memory policy) go. @defaultValue `process.emitWarning` */
  onWarning?: (message: string) => void;
}

/** Reconnect quickly at first, then every 2 s: an API must notice Redis is back within seconds. */
const reconnectDelay = (attempt: number) => Math.min(100 * attempt, 2000);

export function redisOptions(config: QueuesConfig, role: ConnectionRole): RedisOptions {
  const common: RedisOptions = {
    db: config.redisDb,
    retryStrategy: reconnectDelay,
    connectTimeout: 5000,
  };
  return role === 'producer'
    ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: config.commandTimeoutMs }
    : { ...common, maxRetriesPerRequest: null, enableOfflineQueue: true };
}

/**
 * A connection to one Redis (through Sentinel or not) or to a Redis Cluster (`REDIS_CLUSTER_NODES`):
 * ioredis' `Cluster` keeps one connection per node and sends each command to its key's node.
 */
export type RedisClient = Redis | Cluster;

/** One factory for every Redis connection the apps open; each role gets its own connection. */
export function createRedisConnection(config: QueuesConfig, role: ConnectionRole, options: ConnectionOptions = {}): RedisClient {
  const common = { ...redisOptions(config, role), connectionName: options.connectionName };
  const client: RedisClient = config.cluster
    ? new Cluster(config.cluster.nodes, clusterOptions(config, role, common))
    : config.sentinel
      ? followFailovers(new Redis({ ...common, ...credentials(config.redisUrl), ...sentinelOptions(config.sentinel) }), config.sentinel)
      : new Redis(config.redisUrl, common);
  const warn = options.onWarning ?? ((message: string) => process.emitWarning(message, 'RedisServerWarning'));
  // ioredis emits 'error' on every failed reconnect; without a listener Node would crash the process.
  // A refused SELECT is no outage: ioredis would carry on in database 0, the platform's own data,
  // so the connection is closed for good before its first command (the SELECT answer comes first).
  client.on('error', (error: Error) => {
    if (!(error instanceof ReplyError) || !/DB index is out of range|invalid DB index/i.test(error.message)) return;
    fatalErrors.set(
      client,
      new ConfigError(
        'REDIS_URL',
        `selects database ${config.redisDb}, which this Redis server does not have (its "databases" setting); nothing was written`,
      ),
    );
    client.disconnect(false);
  });
  client.once('ready', () => {
    checkRedisServer(client)
      .then((report) => report.problems.forEach(warn))
      .catch(() => {
        /* the check is advisory: a server that refuses INFO or CONFIG is still usable */
      });
  });
  return client;
}

/**
 * A cluster connection: the per-node options are the role's (no database: a cluster has only 0);
 * while a master fails over, a command is retried on the new one (MOVED, CLUSTERDOWN, TRYAGAIN
 * are followed by ioredis) and a producer's still fails fast when no node answers.
 */
function clusterOptions(config: QueuesConfig, role: ConnectionRole, common: RedisOptions): ClusterOptions {
  const { db: _db, retryStrategy: _retry, enableOfflineQueue, ...perNode } = common;
  return {
    redisOptions: { ...perNode, ...credentials(config.redisUrl) },
    clusterRetryStrategy: reconnectDelay,
    enableOfflineQueue,
    scaleReads: 'master',
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2000,
    // A producer's map of the cluster is read again every 5 s even when nothing fails (a replica
    // back, a slot moved): REDIS_WAIT_REPLICAS=all re-counts the replicas on each refresh.
    ...(role === 'producer' ? { slotsRefreshInterval: 5000 } : {}),
  };
}

/** What ioredis needs to find the master through the sentinels; `followFailovers` moves on a switch. */
function sentinelOptions(sentinel: NonNullable<QueuesConfig['sentinel']>): RedisOptions {
  return {
    sentinels: sentinel.hosts,
    name: sentinel.name,
    sentinelUsername: sentinel.username,
    sentinelPassword: sentinel.password,
    // Its per-connection +switch-master subscriber can end a reconnecting connection for good
    // (sentinel-switch.ts); followFailovers does that job for every connection of the process.
    failoverDetector: false,
    sentinelRetryStrategy: reconnectDelay,
  };
}

/**
 * The user, password and scheme of `REDIS_URL`, for the master found through the sentinels: ioredis
 * ignores `tls` in Sentinel mode unless `enableTLSForSentinelMode`, so `rediss://` would otherwise
 * reach the master in clear text. The sentinels themselves are still asked without TLS.
 */
function credentials(redisUrl: string): Pick<RedisOptions, 'username' | 'password' | 'tls' | 'enableTLSForSentinelMode'> {
  // (Also a cluster's per-node credentials and TLS.)
  const url = new URL(redisUrl);
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
  };
}

const fatalErrors = new WeakMap<RedisClient, ConfigError>();

/** The configuration error that closed `client` for good (a database the server lacks), if any. */
export function connectionConfigError(client: RedisClient): ConfigError | undefined {
  return fatalErrors.get(client);
}

/**
 * Stops startup when `REDIS_URL` names a database the server does not have: connects once and
 * throws that {@link ConfigError}. An unreachable Redis is not a configuration error: it resolves
 * (the apps wait for Redis) after the first failed attempt or `timeoutMs`.
 */
export async function assertRedisDatabase(config: QueuesConfig, timeoutMs = 5000): Promise<void> {
  if (config.cluster) return; // only database 0, nothing selected
  const probe = createRedisConnection(config, 'producer', { connectionName: 'ceres-db-check', onWarning: () => {} });
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      probe.once('ready', done).once('error', done).once('end', done);
    });
    const misconfigured = connectionConfigError(probe);
    if (misconfigured) throw misconfigured;
  } finally {
    probe.disconnect();
  }
}

export interface RedisServerReport {
  version: string | undefined;
  maxmemoryPolicy: string | undefined;
  /** Human-readable warnings; empty when the server suits BullMQ. */
  problems: string[];
}

/** Oldest Redis BullMQ supports. */
export const MIN_REDIS_VERSION = '6.2.0';

/** Checks what BullMQ needs of the server: version ≥ 6.2 and `maxmemory-policy noeviction`. */
export async function checkRedisServer(client: RedisClient): Promise<RedisServerReport> {
  const info = await client.info('server');
  const version = /redis_version:([^\r\n]+)/.exec(info)?.[1]?.trim();
  let maxmemoryPolicy: string | undefined;
  try {
    const reply = (await client.config('GET', 'maxmemory-policy')) as string[];
    maxmemoryPolicy = reply[1];
  } catch (error) {
    // Managed Redis services often disable CONFIG; then the policy cannot be checked. Anything
    // else (the connection closing under us) is not a finding about the server.
    if (!(error instanceof ReplyError)) throw error;
  }
  const problems: string[] = [];
  if (version !== undefined && compareVersions(version, MIN_REDIS_VERSION) < 0) {
    problems.push(`Redis ${version} is older than ${MIN_REDIS_VERSION}, the oldest BullMQ supports`);
  }
  if (maxmemoryPolicy === undefined) {
    problems.push('could not read maxmemory-policy (CONFIG GET refused); make sure it is "noeviction"');
  } else if (maxmemoryPolicy !== 'noeviction') {
    problems.push(`Redis maxmemory-policy is "${maxmemoryPolicy}": Redis may evict queue keys and lose jobs; set it to "noeviction"`);
  }
  return { version, maxmemoryPolicy, problems };
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split('.').map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

/**
 * The connection to the master that serves `key`'s slot (as the cluster connection last learned
 * it), or the connection itself on one Redis: where a keyless command about that key goes (`WAIT`
 * after writing it, `SCAN` for keys of its hash tag).
 */
export function nodeFor(client: RedisClient, key: string): Redis | undefined {
  if (!(client instanceof Cluster)) return client;
  const address = client.slots[keySlot(key)]?.[0];
  if (address === undefined) return undefined;
  return client.nodes('master').find(({ options }) => `${options.host}:${options.port}` === address);
}
