import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { join } from 'node:path';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { freePort } from './free-port';
import { makeTempDir } from './temp-dir';
import { waitFor } from './wait-for';

export interface RedisClusterNode {
  port: number;
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  /** 'master' | 'replica' as the cluster says now (the node's `ROLE`); rejects when it is down. */
  role(): Promise<'master' | 'replica'>;
  /** Kills the process (SIGKILL unless told: a crash) and waits until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface RedisCluster {
  /** Every node started (masters first at start). */
  nodes: RedisClusterNode[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…` of every node: the value for `REDIS_CLUSTER_NODES`. */
  seeds: string;
  /** The `REDIS_PREFIX` of {@link env}: `c<hex>:`, unique to this cluster. */
  prefix: string;
  /** Environment for the apps: `REDIS_CLUSTER_NODES` (= {@link seeds}) and {@link prefix} as `REDIS_PREFIX`. */
  env: Record<string, string>;
  /** The port of the master serving `key`'s slot now (`CLUSTER KEYSLOT` + `CLUSTER SLOTS`). */
  masterPortOf(key: string): Promise<number>;
  /** Ports of the current masters (those serving slots). */
  masterPorts(): Promise<number[]>;
  /**
   * SIGKILLs the master serving `key` and waits until its replica has promoted itself (Redis Cluster's
   * own failover, no command) and every node that is up says `cluster_state:ok`, names the new master
   * for the slot and has the same view of the cluster. `promotedAfterMs`: from the kill until the
   * replica answered `ROLE` as master (polled every 25 ms).
   */
  killMasterOf(key: string): Promise<{ promotedAfterMs: number; newMasterPort: number; killedPort: number }>;
  /**
   * Restarts a killed node (same ports, same nodes.conf) and waits until it is a replica in sync that
   * every node sees as up, the cluster state ok everywhere.
   */
  restart(port: number): Promise<void>;
  /** Kills every node (also after a failure) and removes the temp dir. */
  close(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Masters (at least 3, Redis' minimum); default 3. */
  masters?: number;
  /** Replicas of each master; default 1. */
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a node may not answer before it counts as failing; default 1000. */
  nodeTimeoutMs?: number;
}

let found: boolean | undefined;

/** Whether `redis-server` and `redis-cli` (Debian: `redis-tools`) are on the PATH (asked once, when first needed). */
export function hasRedisCluster(): boolean {
  return (found ??= spawnSync('sh', ['-c', 'command -v redis-server && command -v redis-cli'], { stdio: 'ignore' }).status === 0);
}

/**
 * Kills the pids it was told about (`+ <pid>` / `- <pid>` lines on stdin) and removes the cluster's
 * dir ($1) when its stdin closes: when the test process exits or dies, even by SIGKILL, its nodes do
 * not outlive it. After a normal `close()` nothing is left to do.
 */
const WATCHDOG = `
dir=$1
set --
while read -r op pid; do
  if [ "$op" = + ]; then set -- "$@" "$pid"
  else for p do shift; [ "$p" = "$pid" ] || set -- "$@" "$p"; done
  fi
done
[ $# -gt 0 ] && kill -9 "$@" 2>/dev/null
rm -rf "$dir"
exit 0
`;

/** A short-lived admin connection to one node; its errors are the caller's rejections, not events. */
async function admin<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2_000,
    commandTimeout: 3_000,
  });
  redis.on('error', () => {});
  try {
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

function fields(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .map((line) => line.split(':'))
      .filter((pair) => pair.length === 2)
      .map(([name, value]) => [name!, value!.trim()]),
  );
}

interface SlotRange {
  start: number;
  end: number;
  master: number;
  masterId: string;
}

/** `CLUSTER SLOTS` as one node sees it. */
async function slotRanges(port: number): Promise<SlotRange[]> {
  const reply = (await admin(port, (redis) => redis.call('CLUSTER', 'SLOTS'))) as [
    number,
    number,
    [string, number, string],
    ...unknown[],
  ][];
  return reply.map(([start, end, master]) => ({ start, end, master: Number(master[1]), masterId: master[2] }));
}

interface ClusterNodeLine {
  id: string;
  port: number;
  flags: string[];
  /** The id of its master, for a replica. */
  masterId: string | undefined;
}

/** `CLUSTER NODES` as one node sees it. */
async function clusterNodes(port: number): Promise<ClusterNodeLine[]> {
  const text = (await admin(port, (redis) => redis.call('CLUSTER', 'NODES'))) as string;
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, address, flags, masterId] = line.split(' ');
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(address ?? '')?.[1]),
        flags: (flags ?? '').split(','),
        masterId: masterId === '-' ? undefined : masterId,
      };
    });
}

const rangeOf = (ranges: SlotRange[], slot: number) => ranges.find((range) => range.start <= slot && slot <= range.end);

function checkOptions({ masters = 3, replicasPerMaster = 1, nodeTimeoutMs = 1000 }: RedisClusterOptions) {
  if (!Number.isInteger(masters) || masters < 3)
    throw new Error(`startRedisCluster: masters must be an integer ≥ 3 (Redis Cluster's minimum), got ${masters}`);
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new Error(`startRedisCluster: replicasPerMaster must be an integer ≥ 0, got ${replicasPerMaster}`);
  }
  if (!Number.isInteger(nodeTimeoutMs) || nodeTimeoutMs < 100) {
    throw new Error(`startRedisCluster: nodeTimeoutMs must be an integer ≥ 100, got ${nodeTimeoutMs}`);
  }
  return { masters, replicasPerMaster, nodeTimeoutMs };
}

interface NodeProcess {
  port: number;
  busPort: number;
  child?: ChildProcess;
  exited?: Promise<void>;
  stderr: string[];
}

/**
 * A real Redis Cluster of `redis-server` processes on 127.0.0.1 (free ports, one temp dir), created
 * with `redis-cli --cluster create`; resolves once every node says `cluster_state:ok` and every
 * replica's link to its master is up. Failure detection is fast (`cluster-node-timeout` 1 s).
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters, replicasPerMaster, nodeTimeoutMs } = checkOptions(options);
  const total = masters * (1 + replicasPerMaster);
  const dir = await makeTempDir('redis-cluster');
  const watchdog = spawn('sh', ['-c', WATCHDOG, 'redis-cluster-watchdog', dir.path], { stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.unref();
  const watchdogInput = watchdog.stdin as Writable & { unref?: () => void };
  watchdogInput.unref?.();
  watchdogInput.on('error', () => {});
  const tell = (line: string) => {
    if (watchdogInput.writable) watchdogInput.write(`${line}\n`);
  };

  const procs: NodeProcess[] = [];
  const logFile = (port: number) => join(dir.path, `redis-${port}.log`);
  const logTails = async (lines = 12) => {
    const tails = await Promise.all(
      procs.map(async (proc) => {
        const log = (await readFile(logFile(proc.port), 'utf8').catch(() => '')) + proc.stderr.join('');
        return `--- node ${proc.port} (${isUp(proc) ? 'running' : 'down'}):\n${log.trimEnd().split('\n').slice(-lines).join('\n')}`;
      }),
    );
    return tails.join('\n');
  };
  const isUp = (proc: NodeProcess) => proc.child?.pid !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;
  const upPorts = () => procs.filter(isUp).map((proc) => proc.port);

  const spawnNode = async (proc: NodeProcess) => {
    proc.stderr = [];
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(proc.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir.path,
        '--daemonize',
        'no',
        '--logfile',
        logFile(proc.port),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${proc.port}.conf`,
        // An explicit bus port: the default (port + 10000) may be taken or above 65535 for a free port.
        '--cluster-port',
        String(proc.busPort),
        '--cluster-node-timeout',
        String(nodeTimeoutMs),
        // A replica whose master just died may always take over: the default rule (10 × node timeout
        // since the last contact) could keep a replica of a busy test machine from promoting itself.
        '--cluster-replica-validity-factor',
        '0',
        '--appendonly',
        'no',
        '--save',
        '',
        '--repl-diskless-sync',
        'yes',
        '--repl-diskless-sync-delay',
        '0',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.child = child;
    child.stderr?.on('data', (chunk: Buffer) => proc.stderr.push(chunk.toString()));
    proc.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => reject(new Error(`could not start redis-server (is it installed and on PATH?): ${error.message}`)));
    });
    await spawned;
    const pid = child.pid!;
    tell(`+ ${pid}`);
    void proc.exited.then(() => tell(`- ${pid}`));
    const exitedEarly = proc.exited.then(() => {
      throw new Error(`redis-server on port ${proc.port} exited`);
    });
    exitedEarly.catch(() => {});
    await Promise.race([
      exitedEarly,
      waitFor(async () => (await admin(proc.port, (redis) => redis.ping())) === 'PONG', {
        timeoutMs: 20_000,
        intervalMs: 50,
        what: `redis-server on port ${proc.port}`,
      }),
    ]).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await logTails()}`);
    });
  };

  const killNode = async (proc: NodeProcess, signal: NodeJS.Signals = 'SIGKILL') => {
    if (!isUp(proc)) return;
    proc.child!.kill(signal);
    await proc.exited;
  };

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(procs.map((proc) => killNode(proc)));
    watchdogInput.end();
    await dir.remove();
  };

  /**
   * Every node that is up says `cluster_state:ok`, knows every node and has the same view of the
   * cluster: who serves which slots, who replicates whom, who has failed (no node that is up). Each
   * node that is up either serves slots or replicates a master. A replica's own `ROLE` changes at
   * once, the others learn it by gossip: until then a client asking them sees an old topology.
   */
  const agreed = async (check?: (ranges: SlotRange[]) => boolean) => {
    const ports = upPorts();
    const views = await Promise.all(
      ports.map(async (port) => {
        const info = fields((await admin(port, (redis) => redis.call('CLUSTER', 'INFO'))) as string);
        if (info.cluster_state !== 'ok' || Number(info.cluster_known_nodes) !== total) return undefined;
        const ranges = await slotRanges(port);
        if (!ranges.every((range) => ports.includes(range.master)) || (check && !check(ranges))) return undefined;
        const nodes = await clusterNodes(port);
        const portOf = new Map(nodes.map((node) => [node.id, node.port]));
        const failed = (node: ClusterNodeLine) => node.flags.some((flag) => flag === 'fail' || flag === 'fail?');
        if (nodes.some((node) => ports.includes(node.port) && failed(node))) return undefined;
        const replicas = nodes.filter((node) => node.masterId !== undefined && ports.includes(node.port)).length;
        if (replicas !== ports.length - new Set(ranges.map((range) => range.master)).size) return undefined;
        const topology = nodes
          .map((node) => `${node.port} ${node.masterId ? portOf.get(node.masterId) : '-'} ${failed(node) ? 'fail' : 'up'}`)
          .sort();
        return JSON.stringify([ranges.map(({ start, end, master }) => [start, end, master]).sort(), topology]);
      }),
    );
    if (views.some((view) => view === undefined)) return false;
    return views.every((view) => view === views[0]);
  };

  /** Every replica that is up has its link to its master up and no sync in progress. */
  const replicasInSync = async () => {
    const states = await Promise.all(
      upPorts().map(async (port) => {
        const info = fields(await admin(port, (redis) => redis.info('replication')));
        return info.role === 'master' || (info.master_link_status === 'up' && info.master_sync_in_progress === '0');
      }),
    );
    return states.every(Boolean);
  };

  const settle = async (what: string, timeoutMs: number, check?: (ranges: SlotRange[]) => boolean) => {
    await waitFor(async () => (await agreed(check)) && (await replicasInSync()), { timeoutMs, intervalMs: 100, what }).catch(
      async (error: Error) => {
        throw new Error(`${error.message}${error.cause ? ` (${(error.cause as Error).message})` : ''}\n${await logTails()}`);
      },
    );
  };

  const anyUp = () => {
    const port = upPorts()[0];
    if (port === undefined) throw new Error('no node of the cluster is up');
    return port;
  };
  const slotOf = async (key: string) => Number(await admin(anyUp(), (redis) => redis.call('CLUSTER', 'KEYSLOT', key)));
  const masterPortOf = async (key: string) => {
    const slot = await slotOf(key);
    const range = rangeOf(await slotRanges(anyUp()), slot);
    if (!range) throw new Error(`no master serves slot ${slot} (of key ${key})`);
    return range.master;
  };
  const masterPorts = async () => [...new Set((await slotRanges(anyUp())).map((range) => range.master))].sort((a, b) => a - b);
  const procOf = (port: number) => {
    const proc = procs.find((candidate) => candidate.port === port);
    if (!proc) throw new Error(`port ${port} is not a node of this cluster`);
    return proc;
  };

  const nodes: RedisClusterNode[] = [];
  try {
    for (let i = 0; i < total; i++) {
      // A port free a moment ago may be taken by the time redis-server binds it: try fresh ones.
      for (let attempt = 1; ; attempt++) {
        const proc: NodeProcess = { port: await freePort(), busPort: await freePort(), stderr: [] };
        procs.push(proc);
        try {
          await spawnNode(proc);
          break;
        } catch (error) {
          await killNode(proc);
          procs.pop();
          if (attempt === 3) throw error;
        }
      }
    }

    const create = spawn(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...procs.map((proc) => `127.0.0.1:${proc.port}`),
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    create.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    create.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => create.kill('SIGKILL'), 60_000);
      create.once('error', (error) =>
        reject(new Error(`could not run redis-cli (is it installed and on PATH? Debian: redis-tools): ${error.message}`)),
      );
      create.once('close', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    if (code !== 0) throw new Error(`redis-cli --cluster create exited with ${code}:\n${output.trim()}\n${await logTails()}`);

    await settle(`the cluster (${total} nodes) to be ok on every node with its replicas in sync`, 60_000);

    // redis-cli picks the masters; list them first.
    const replicaPorts = new Set<number>();
    for (const proc of procs) {
      const [role] = (await admin(proc.port, (redis) => redis.call('ROLE'))) as string[];
      if (role !== 'master') replicaPorts.add(proc.port);
    }
    procs.sort((a, b) => Number(replicaPorts.has(a.port)) - Number(replicaPorts.has(b.port)));
  } catch (error) {
    await close();
    throw error;
  }

  for (const proc of procs) {
    nodes.push({
      port: proc.port,
      url: `redis://127.0.0.1:${proc.port}`,
      role: async () => (((await admin(proc.port, (redis) => redis.call('ROLE'))) as string[])[0] === 'master' ? 'master' : 'replica'),
      kill: (signal) => killNode(proc, signal),
    });
  }
  const seeds = procs.map((proc) => `127.0.0.1:${proc.port}`).join(',');
  const prefix = `c${randomBytes(4).toString('hex')}:`;

  return {
    nodes,
    seeds,
    prefix,
    env: { REDIS_CLUSTER_NODES: seeds, REDIS_PREFIX: prefix },
    masterPortOf,
    masterPorts,
    async killMasterOf(key) {
      const slot = await slotOf(key);
      const range = rangeOf(await slotRanges(anyUp()), slot);
      if (!range) throw new Error(`no master serves slot ${slot} (of key ${key})`);
      const killedPort = range.master;
      // CLUSTER NODES, not CLUSTER SLOTS' list: Redis 7.0 leaves out of that a replica that has not
      // yet announced a replication offset above 0 (one that has had no write yet).
      const replicas = (await clusterNodes(anyUp()))
        .filter((node) => node.masterId === range.masterId)
        .map((node) => node.port)
        .filter((port) => isUp(procOf(port)));
      if (replicas.length === 0) throw new Error(`the master on port ${killedPort} has no replica that is up to take over`);
      const killedAt = Date.now();
      await killNode(procOf(killedPort));
      const newMasterPort = await waitFor(
        async () => {
          for (const port of replicas) {
            const [role] = (await admin(port, (redis) => redis.call('ROLE'))) as string[];
            if (role === 'master') return port;
          }
          return undefined;
        },
        { timeoutMs: 30_000, intervalMs: 25, what: `a replica of port ${killedPort} (${replicas.join(', ')}) to promote itself` },
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}\n${await logTails()}`);
      });
      const promotedAfterMs = Date.now() - killedAt;
      await settle(`every node that is up to be ok and name port ${newMasterPort} the master of slot ${slot}`, 30_000, (ranges) => {
        return rangeOf(ranges, slot)?.master === newMasterPort;
      });
      return { promotedAfterMs, newMasterPort, killedPort };
    },
    async restart(port) {
      const proc = procOf(port);
      if (isUp(proc)) throw new Error(`the node on port ${port} is running; kill it before restarting it`);
      await spawnNode(proc);
      await settle(`the restarted node on port ${port} to be a replica in sync, seen as up by every node`, 60_000);
    },
    close,
  };
}

/**
 * An ioredis `Cluster` on the cluster's seeds with options for tests: commands sent before it is
 * ready wait for it (offline queue on), but none waits forever: each follows at most 16 redirections
 * or retries (200 ms apart: about 3 s across a failover) and then rejects, and the
 * client gives up when it has reached no node for about 10 s. `options` override these.
 */
export function clusterClient(cluster: Pick<RedisCluster, 'seeds'>, options: ClusterOptions = {}): Cluster {
  const seeds = cluster.seeds.split(',').map((seed) => ({ host: seed.split(':')[0]!, port: Number(seed.split(':')[1]) }));
  return new Cluster(seeds, {
    enableOfflineQueue: true,
    maxRedirections: 16,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2_000,
    clusterRetryStrategy: (times) => (times > 50 ? null : 200),
    ...options,
    redisOptions: { connectTimeout: 2_000, maxRetriesPerRequest: 1, ...options.redisOptions },
  });
}
