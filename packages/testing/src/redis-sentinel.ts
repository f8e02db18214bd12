import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port';
import { startRedisServer, type RedisServer } from './redis-server';
import { makeTempDir } from './temp-dir';
import { waitFor } from './wait-for';

export interface RedisSentinelGroup {
  /** The master's name the sentinels monitor. */
  name: string;
  /** The data nodes: the first is the master at start. */
  nodes: RedisServer[];
  sentinelPorts: number[];
  /** Environment for the apps: `REDIS_SENTINELS`, `REDIS_SENTINEL_NAME` and a `REDIS_PREFIX`. */
  env: Record<string, string>;
  /** The port of the node the sentinels currently name as master. */
  masterPort(): Promise<number>;
  /** `SENTINEL FAILOVER`, then waits until the sentinels name another master. */
  failover(): Promise<number>;
  /** The sentinels' failover events so far (`<sentinel port> <log line>`), to explain a failed run. */
  events(): Promise<string[]>;
  close(): Promise<void>;
}

const SENTINEL_EVENT =
  /[+-](sdown|odown|new-epoch|try-failover|elected-leader|failover-abort[\w-]*|promoted-slave|slave-reconf[\w-]*|failover-end[\w-]*|switch-master|fix-slave-config|convert-to-slave) /;

/** A short-lived admin connection: its errors are the caller's rejections, not events. */
function quiet(redis: Redis): Redis {
  redis.on('error', () => {});
  return redis;
}

/**
 * A master, `replicas` replicas and `sentinels` real `redis-server --sentinel` processes on
 * 127.0.0.1, free ports, each in a temp dir. Failure detection is fast (1 s) so tests are short.
 */
export async function startRedisSentinelGroup({ replicas = 1, sentinels = 3 } = {}): Promise<RedisSentinelGroup> {
  const name = 'ceres-test';
  // A (re)synced replica starts at once rather than after Redis' default 5 s wait for others.
  const fastSync = ['--repl-diskless-sync-delay', '0'];
  const master = await startRedisServer({ args: fastSync });
  const nodes = [master];
  for (let i = 0; i < replicas; i++) {
    nodes.push(await startRedisServer({ args: [...fastSync, '--replicaof', '127.0.0.1', String(master.port)] }));
  }
  await waitFor(
    async () => {
      const admin = quiet(new Redis(master.url, { lazyConnect: true, maxRetriesPerRequest: 1 }));
      try {
        const info = await admin.info('replication');
        return Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0) >= replicas && !/state=(wait_bgsave|send_bulk)/.test(info);
      } finally {
        admin.disconnect();
      }
    },
    { what: 'the replicas to sync' },
  );

  const dir = await makeTempDir('sentinel');
  const children: ChildProcess[] = [];
  const sentinelPorts: number[] = [];
  for (let i = 0; i < sentinels; i++) {
    const port = await freePort();
    const file = join(dir.path, `sentinel-${port}.conf`);
    await writeFile(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir.path}`,
        `sentinel monitor ${name} 127.0.0.1 ${master.port} ${Math.floor(sentinels / 2) + 1}`,
        `sentinel down-after-milliseconds ${name} 1000`,
        // A sentinel retries a failover after twice this. At 2 s, one that had not yet heard of the
        // first promotion (a loaded machine) promoted the other replica 2 s later: two masters, and
        // the second without a replica until Sentinel's next INFO round (~10 s).
        `sentinel failover-timeout ${name} 15000`,
        `sentinel parallel-syncs ${name} 1`,
        `logfile ${join(dir.path, `sentinel-${port}.log`)}`,
        '',
      ].join('\n'),
    );
    children.push(spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' }));
    sentinelPorts.push(port);
  }
  const ask = async <T>(fn: (sentinel: Redis) => Promise<T>): Promise<T> => {
    const sentinel = quiet(new Redis({ port: sentinelPorts[0], host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 }));
    try {
      return await fn(sentinel);
    } finally {
      sentinel.disconnect();
    }
  };
  const masterPort = () =>
    ask(async (sentinel) => Number(((await sentinel.call('SENTINEL', 'get-master-addr-by-name', name)) as string[])[1]));
  await waitFor(
    async () => {
      const counts = await Promise.all(
        sentinelPorts.map(async (port) => {
          const sentinel = quiet(new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 }));
          try {
            const [info] = (await sentinel.call('SENTINEL', 'masters')) as string[][];
            const fields = Object.fromEntries(
              (info ?? []).flatMap((value, index, all) => (index % 2 === 0 ? [[value, all[index + 1]]] : [])),
            );
            return Number(fields['num-other-sentinels'] ?? -1) === sentinels - 1 && Number(fields['num-slaves'] ?? 0) >= replicas;
          } finally {
            sentinel.disconnect();
          }
        }),
      );
      return counts.every(Boolean);
    },
    { timeoutMs: 20_000, what: 'the sentinels to see each other and the replicas' },
  );

  return {
    name,
    nodes,
    sentinelPorts,
    env: { REDIS_SENTINELS: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','), REDIS_SENTINEL_NAME: name, REDIS_PREFIX: 'ceres:' },
    masterPort,
    async failover() {
      const before = await masterPort();
      await ask((sentinel) => sentinel.call('SENTINEL', 'failover', name));
      return waitFor(
        async () => {
          const now = await masterPort();
          return now !== before ? now : undefined;
        },
        { timeoutMs: 20_000, what: 'the sentinels to name a new master' },
      );
    },
    async events() {
      const logs = await Promise.all(
        sentinelPorts.map(async (port) =>
          (await readFile(join(dir.path, `sentinel-${port}.log`), 'utf8').catch(() => ''))
            .split('\n')
            .filter((line) => SENTINEL_EVENT.test(line))
            .map((line) => `${port} ${line}`),
        ),
      );
      return logs.flat();
    },
    async close() {
      await Promise.all(
        children.map((child) => {
          if (child.exitCode !== null) return Promise.resolve();
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          return exited;
        }),
      );
      await Promise.all(nodes.map((node) => node.close()));
      await dir.remove();
    },
  };
}
