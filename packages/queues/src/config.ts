import { ConfigError, parseEnv } from '@ceres/app-kit';
import { Type, type Static } from '@sinclair/typebox';
import { keyringFromEnv } from './crypto/keyring';

/** Queues are kept apart from the platform's other Redis data in this logical database. */
export const DEFAULT_REDIS_DB = 5;

/**
 * The variables every app reads for the queues; defaults live here only (the docs' tables and
 * `.env.example` are checked against this schema by tests/env-docs.test.ts).
 */
export const QueuesEnv = Type.Object({
  REDIS_URL: Type.String({
    default: 'redis://127.0.0.1:6379',
    minLength: 1,
    description: `Redis; the URL path selects the logical DB, ${DEFAULT_REDIS_DB} when absent; one the server does not have stops startup`,
  }),
  REDIS_PREFIX: Type.String({
    default: 'ceres:',
    pattern: '^[A-Za-z0-9_.-]+:$',
    'x-pattern-hint': 'must be letters, digits, "_", "." or "-" ending in ":"',
    description: 'Key prefix; BullMQ keys are ${REDIS_PREFIX}queue:<queue>:…',
  }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({
    default: 5000,
    minimum: 100,
    maximum: 60_000,
    description: 'A producer command (an add, a status read) waiting longer than this counts as a Redis outage (503)',
  }),
  REDIS_SENTINELS: Type.Optional(
    Type.String({
      description:
        'host:port,… of Redis Sentinels: connections ask them for the master and follow a failover; REDIS_URL then gives only the DB and credentials',
    }),
  ),
  REDIS_CLUSTER_NODES: Type.Optional(
    Type.String({
      description:
        'host:port,… of some nodes of a Redis Cluster: every connection is a cluster connection, each queue in one hash slot; REDIS_URL then gives only the credentials and TLS (a cluster has only database 0)',
    }),
  ),
  REDIS_SENTINEL_NAME: Type.Optional(Type.String({ description: 'The master name the sentinels monitor (required with REDIS_SENTINELS)' })),
  REDIS_SENTINEL_USERNAME: Type.Optional(
    Type.String({ minLength: 1, description: "The sentinels' ACL user (with REDIS_SENTINEL_PASSWORD); unset: the default user" }),
  ),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ description: "The sentinels' own password" })),
  JOBS_ENCRYPTION_KEYS: Type.Optional(
    Type.String({
      description:
        'Versioned keyring (v2:<base64>,v1:<base64>, newest first) for the personal fields of jobs; producers encrypt with the first key, the worker decrypts with any',
    }),
  ),
  REDIS_WAIT_REPLICAS: Type.Union([Type.Integer({ minimum: 0, maximum: 16 }), Type.Literal('all')], {
    default: 0,
    'x-union-hint': 'must be an integer from 0 to 16, or "all"',
    description:
      'Replicas that must confirm an enqueue (Redis WAIT) before it succeeds; "all": every replica the sentinels (or, without them, the master) report; a shortfall within 1 s is a 503',
  }),
});

/** Reads {@link QueuesEnv}; throws a {@link ConfigError} naming the bad variable. */
export function loadQueuesConfig(env: Record<string, string | undefined> = process.env) {
  const parsed = parseEnv(QueuesEnv, env);
  let url: URL;
  try {
    url = new URL(parsed.REDIS_URL);
  } catch {
    throw new ConfigError('REDIS_URL', `not a valid URL (expected redis://host:port/db), got "${redact(parsed.REDIS_URL)}"`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError('REDIS_URL', `must start with redis:// or rediss://, got "${url.protocol}//"`);
  }
  const dbPath = url.pathname.replace(/^\//, '');
  const cluster = clusterFrom(parsed);
  let redisDb = cluster ? 0 : DEFAULT_REDIS_DB;
  if (cluster && dbPath !== '' && dbPath !== '0')
    throw new ConfigError(
      'REDIS_URL',
      `names database /${dbPath}, but a Redis Cluster has only database 0 (REDIS_PREFIX keeps installs apart)`,
    );
  if (dbPath !== '' && !cluster) {
    // Whether the server has that database is checked when connecting (see connection.ts).
    if (!/^\d{1,2}$/.test(dbPath)) {
      throw new ConfigError('REDIS_URL', `the path must be a database number (0-15 on a default server), got "/${dbPath}"`);
    }
    redisDb = Number(dbPath);
  }
  url.pathname = '';
  return {
    /** The Redis URL without its database path, e.g. `redis://127.0.0.1:6379`. */
    redisUrl: url.toString().replace(/\/$/, ''),
    /** The logical database: the one named in `REDIS_URL`'s path, else {@link DEFAULT_REDIS_DB}. */
    redisDb,
    redisPrefix: parsed.REDIS_PREFIX,
    /** The prefix BullMQ gets: `${redisPrefix}queue`, so keys read `ceres:queue:<queue>:…`. */
    bullPrefix: `${parsed.REDIS_PREFIX}queue`,
    /**
     * How long a producer command may wait for Redis before it fails as an outage. A Redis that
     * hangs without closing its sockets would otherwise hold every request until TCP gives up.
     * Workers' connections have none: their blocking commands wait by design.
     */
    commandTimeoutMs: parsed.REDIS_COMMAND_TIMEOUT_MS,
    /**
     * An enqueue succeeds only once Redis' `WAIT` says this many replicas have it (else 503);
     * `all`: as many as the master has now, as replica-target.ts reads them.
     */
    waitReplicas: parsed.REDIS_WAIT_REPLICAS,
    ...sentinelFrom(parsed),
    /** `REDIS_CLUSTER_NODES`, parsed: the nodes to discover a Redis Cluster from. */
    cluster,
    /**
     * `JOBS_ENCRYPTION_KEYS`, parsed: producers encrypt personal fields with its first key, the
     * worker decrypts with any. `undefined` when unset; a client then refuses job types with
     * personal fields.
     */
    keyring: keyringFromEnv(env),
  };
}

/** `REDIS_CLUSTER_NODES` (exclusive of Sentinel): the nodes a cluster connection starts from. */
function clusterFrom(parsed: Static<typeof QueuesEnv>): { nodes: Array<{ host: string; port: number }> } | undefined {
  const list = parsed.REDIS_CLUSTER_NODES;
  if (list === undefined) return undefined;
  if (parsed.REDIS_SENTINELS !== undefined)
    throw new ConfigError('REDIS_CLUSTER_NODES', 'cannot be set with REDIS_SENTINELS: a cluster fails over by itself; choose one');
  return { nodes: hostPorts('REDIS_CLUSTER_NODES', list) };
}

/** `host:port,host:port,…` of `variable`. */
function hostPorts(variable: string, list: string): Array<{ host: string; port: number }> {
  return list.split(',').map((entry) => {
    const match = /^\s*([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\s*$/.exec(entry);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) {
      throw new ConfigError(variable, `must be host:port entries separated by commas, got "${entry.trim()}"`);
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

/**
 * The sentinels to ask for the master (and follow a failover) instead of connecting to
 * `REDIS_URL`'s host; the database, user and password still come from `REDIS_URL`.
 */
function sentinelFrom(parsed: Static<typeof QueuesEnv>): {
  sentinel?: { hosts: Array<{ host: string; port: number }>; name: string; username?: string; password?: string };
} {
  const list = parsed.REDIS_SENTINELS;
  const name = parsed.REDIS_SENTINEL_NAME;
  if (list === undefined) {
    if (parsed.REDIS_SENTINEL_USERNAME !== undefined)
      throw new ConfigError('REDIS_SENTINELS', 'is required when REDIS_SENTINEL_USERNAME is set (host:port,host:port,…)');
    if (name !== undefined) throw new ConfigError('REDIS_SENTINELS', 'is required when REDIS_SENTINEL_NAME is set (host:port,host:port,…)');
    return {};
  }
  const hosts = hostPorts('REDIS_SENTINELS', list);
  if (name === undefined)
    throw new ConfigError('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS: the master name the sentinels monitor');
  const password = parsed.REDIS_SENTINEL_PASSWORD;
  const username = parsed.REDIS_SENTINEL_USERNAME;
  if (username !== undefined && password === undefined)
    throw new ConfigError('REDIS_SENTINEL_PASSWORD', 'is required with REDIS_SENTINEL_USERNAME: the password of that ACL user');
  return { sentinel: { hosts, name, ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) } };
}

/**
 * The prefix a queue's BullMQ objects get. On a cluster each queue carries its own hash tag, so all
 * of its keys (and every script on them) are in one slot and the queues spread over the shards:
 * `ceres:queue:{email}:email:wait`. On one Redis: `ceres:queue:email:wait`, as it always was.
 */
export function queuePrefix(config: Pick<QueuesConfig, 'bullPrefix' | 'cluster'>, queue: string): string {
  return config.cluster ? `${config.bullPrefix}:{${queue}}` : config.bullPrefix;
}

/** Where the queues live, as {@link loadQueuesConfig} reads it from {@link QueuesEnv}. */
export type QueuesConfig = ReturnType<typeof loadQueuesConfig>;

/** Never echo a password back into logs or errors. */
function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
