import { EventEmitter } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import type { RedisClient } from './connection';
import type { QueuesConfig } from './config';

/**
 * How many replicas must confirm a write (Redis `WAIT`) before an enqueue is acknowledged. The
 * writer asks once per event-loop turn, so {@link current} is a field read, never a Redis call:
 * the sources read the number in the background and keep it in memory.
 */
export interface ReplicaTarget {
  /** The number now; `undefined` until first read (the writer then awaits {@link ready}). */
  current(): number | undefined;
  /** Starts reading if idle; resolves with the number once known, rejects after `timeoutMs` without it. */
  ready(timeoutMs: number): Promise<number>;
  /** A `WAIT` fell short: the number may be stale (a replica gone), so it is read again soon. */
  shortfall(): void;
  close(): Promise<void>;
  /** On a cluster: the replicas of the master at `host:port` (each master has its own). */
  forMaster?(address: string): number | undefined;
}

/** `REDIS_WAIT_REPLICAS=<n>`: always n. */
export class FixedReplicaTarget implements ReplicaTarget {
  constructor(private readonly replicas: number) {}
  current(): number {
    return this.replicas;
  }
  ready(): Promise<number> {
    return Promise.resolve(this.replicas);
  }
  shortfall(): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Read again this often even without an announcement (a missed one, a replica added quietly). */
export const REPLICA_REREAD_MS = 30_000;
/** After a `WAIT` shortfall, read again at most this often. */
const SHORTFALL_REREAD_MS = 1_000;

export interface ReplicaTargetEvents {
  /** The number changed (also the first read); `why` is what made it read: `start`, `interval`, `shortfall`, an announcement. */
  change: [{ replicas: number; previous: number | undefined; why: string }];
  /** A read failed; the last number stays. Once per failing streak. */
  readFailed: [{ error: string }];
}

/**
 * A number read from Redis or the sentinels: at the first {@link ready}, then every
 * {@link REPLICA_REREAD_MS}, on what the source announces, and after a shortfall. One read at a
 * time; an announcement during a read makes one more read after it, so none is missed.
 */
abstract class ReadReplicaTarget extends EventEmitter<ReplicaTargetEvents> implements ReplicaTarget {
  /** `idle` until the first {@link ready}; `running` while it reads; `closed` for good. */
  state: 'idle' | 'running' | 'closed' = 'idle';
  private replicas: number | undefined;
  private reading: Promise<void> | undefined;
  private readAgain: string | undefined;
  private failing = false;
  private lastShortfallRead = 0;
  private timer: NodeJS.Timeout | undefined;

  /** The replicas to wait for now, as the source tells it. */
  protected abstract read(): Promise<number>;
  /** Starts listening to the source's announcements (each calls {@link refresh}). */
  protected abstract watch(): void;
  protected abstract unwatch(): Promise<void>;

  current(): number | undefined {
    return this.replicas;
  }

  async ready(timeoutMs: number): Promise<number> {
    if (this.state === 'idle') {
      this.state = 'running';
      this.watch();
      this.timer = setInterval(() => this.refresh('interval'), REPLICA_REREAD_MS).unref();
      this.refresh('start');
    }
    if (this.replicas !== undefined) return this.replicas;
    const deadline = Date.now() + timeoutMs;
    while (this.replicas === undefined && this.state === 'running' && Date.now() < deadline) {
      // A failed first read is tried again until the deadline, never more than one at a time.
      if (!this.reading) this.refresh('start');
      await Promise.race([this.reading, sleep(Math.max(0, Math.min(100, deadline - Date.now())))]);
    }
    if (this.replicas === undefined) throw new Error('the replicas to wait for could not be read');
    return this.replicas;
  }

  shortfall(): void {
    if (this.state !== 'running' || Date.now() - this.lastShortfallRead < SHORTFALL_REREAD_MS) return;
    this.lastShortfallRead = Date.now();
    this.refresh('shortfall');
  }

  /** Reads now, or once more after the read under way. */
  refresh(why: string): void {
    if (this.state !== 'running') return;
    if (this.reading) {
      this.readAgain = why;
      return;
    }
    this.reading = this.read().then(
      (replicas) => {
        this.failing = false;
        if (this.state !== 'running' || replicas === this.replicas) return;
        const event = { replicas, previous: this.replicas, why };
        this.replicas = replicas;
        this.emit('change', event);
        for (const listener of listeners) listener({ kind: 'change', ...event });
      },
      (error: Error) => {
        if (!this.failing && this.state === 'running') {
          this.emit('readFailed', { error: error.message });
          for (const listener of listeners) listener({ kind: 'readFailed', error: error.message, kept: this.replicas });
        }
        this.failing = true;
      },
    );
    void this.reading.finally(() => {
      this.reading = undefined;
      const again = this.readAgain;
      this.readAgain = undefined;
      if (again !== undefined) this.refresh(again);
    });
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasRunning = this.state === 'running';
    this.state = 'closed';
    clearInterval(this.timer);
    if (wasRunning) await this.unwatch();
  }
}

type SentinelConfig = NonNullable<QueuesConfig['sentinel']>;

/**
 * A replica the sentinels list as `disconnected` counts for this long after their last ping answer:
 * right after a switch they list every replica on a link of their own still connecting (ms), and
 * leaving those out would make `WAIT` ask for fewer just when the writes move to the new master.
 */
export const DISCONNECTED_GRACE_MS = 2_000;

/** The sentinels' announcements that can change the current master's replicas. */
const CHANNELS = ['+switch-master', '+slave', '+sdown', '-sdown', '+convert-to-slave', '+slave-reconf-done'];

/**
 * `REDIS_WAIT_REPLICAS=all` with Sentinel: the replicas the sentinels list for the current master
 * (`SENTINEL REPLICAS <name>`), minus those flagged down (`s_down`, `o_down`) or out of their reach
 * (`disconnected` beyond {@link DISCONNECTED_GRACE_MS}). Not the master's `connected_slaves`: a
 * master just promoted has none attached yet, and `WAIT 0` would then acknowledge writes that no
 * replica holds. After a switch the sentinels list the replicas that will follow the new master,
 * the demoted one too: `WAIT` refuses (503) until they are attached, rather than acknowledge
 * writes they lack. Read again on each `+switch-master`, and on a replica's `+sdown`/`-sdown`,
 * `+slave`, `+convert-to-slave` and `+slave-reconf-done`, from every sentinel.
 */
export class SentinelReplicaTarget extends ReadReplicaTarget {
  /** `host:port` of the master the last read saw. */
  master: string | undefined;
  private subscribers: Redis[] = [];
  /** The sentinel that answered last, asked first next time. */
  private preferred = 0;

  constructor(private readonly sentinel: SentinelConfig) {
    super();
  }

  protected async read(): Promise<number> {
    const { hosts } = this.sentinel;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < hosts.length; attempt++) {
      const index = (this.preferred + attempt) % hosts.length;
      try {
        const [master, replicas] = await this.ask(hosts[index]!);
        this.preferred = index;
        this.master = master;
        return replicas;
      } catch (error) {
        lastError = error as Error;
      }
    }
    throw lastError ?? new Error('no sentinel configured');
  }

  /** One short-lived connection per read: reads are rare (an announcement, 30 s, a shortfall). */
  private async ask({ host, port }: { host: string; port: number }): Promise<[string, number]> {
    const client = new Redis({
      host,
      port,
      username: this.sentinel.username,
      password: this.sentinel.password,
      connectionName: 'ceres-replica-target',
      lazyConnect: true,
      connectTimeout: 2_000,
      commandTimeout: 2_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {}); // the command's rejection says it
    try {
      await client.connect();
      const [address, replicas] = (await Promise.all([
        client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.sentinel.name),
        client.call('SENTINEL', 'REPLICAS', this.sentinel.name),
      ])) as [string[] | null, string[][]];
      if (!address) throw new Error(`the sentinel does not monitor a master named ${this.sentinel.name}`);
      return [`${address[0]}:${address[1]}`, countReplicas(replicas)];
    } finally {
      client.disconnect();
    }
  }

  protected watch(): void {
    this.subscribers = this.sentinel.hosts.map(({ host, port }) => {
      const subscriber = new Redis({
        host,
        port,
        username: this.sentinel.username,
        password: this.sentinel.password,
        connectionName: 'ceres-replica-watch',
        retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
        maxRetriesPerRequest: null,
      });
      // Retried by ioredis, re-subscribed once back; the 30 s reads cover what was missed meanwhile.
      subscriber.on('error', () => {});
      let subscribed = false;
      subscriber.on('ready', () => subscribed && this.refresh('sentinel back'));
      subscriber.on('message', (channel: string, message: string) => this.onAnnouncement(channel, message));
      subscriber.subscribe(...CHANNELS).then(
        () => (subscribed = true),
        () => {},
      );
      return subscriber;
    });
  }

  /**
   * `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>`; the others
   * `<type> <name> <ip> <port> @ <master-name> <master-ip> <master-port>`.
   */
  private onAnnouncement(channel: string, message: string): void {
    const parts = message.split(' ');
    if (channel === '+switch-master' ? parts[0] === this.sentinel.name : parts[0] === 'slave' && parts[5] === this.sentinel.name)
      this.refresh(channel);
  }

  protected async unwatch(): Promise<void> {
    for (const subscriber of this.subscribers) subscriber.disconnect();
    this.subscribers = [];
  }
}

/** The replicas of a `SENTINEL REPLICAS` answer that count (see {@link SentinelReplicaTarget}). */
export function countReplicas(replicas: string[][]): number {
  return replicas.filter((fields) => {
    const info = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) info.set(fields[i]!, fields[i + 1]!);
    const flags = (info.get('flags') ?? '').split(',');
    if (flags.includes('s_down') || flags.includes('o_down')) return false;
    return !flags.includes('disconnected') || Number(info.get('last-ok-ping-reply') ?? Infinity) <= DISCONNECTED_GRACE_MS;
  }).length;
}

/**
 * `REDIS_WAIT_REPLICAS=all` on a plain `REDIS_URL`: the master's `connected_slaves` (INFO
 * replication), read on its own connection again after each reconnect and every 30 s.
 */
export class MasterReplicaTarget extends ReadReplicaTarget {
  private readonly onReady = () => this.refresh('reconnect');

  constructor(private readonly connection: Redis) {
    super();
  }

  protected async read(): Promise<number> {
    const info = await this.connection.info('replication');
    const connected = /connected_slaves:(\d+)/.exec(info)?.[1];
    if (connected === undefined) throw new Error('INFO replication has no connected_slaves');
    return Number(connected);
  }

  protected watch(): void {
    this.connection.on('ready', this.onReady);
  }

  protected async unwatch(): Promise<void> {
    this.connection.off('ready', this.onReady);
  }
}

/**
 * `REDIS_WAIT_REPLICAS=all` on a Redis Cluster: per master, the replicas `CLUSTER NODES` lists for
 * it that no node flags as failing (`fail`, `fail?`, `handshake`, `noaddr`). Read again when the
 * cluster connection refreshes its slots (a failover moves them), every 30 s and after a shortfall.
 * {@link current} is their sum: 0 only when no master has a replica, and then no `WAIT` is sent.
 */
export class ClusterReplicaTarget extends ReadReplicaTarget {
  private perMaster = new Map<string, number>();
  private readonly onRefresh = () => this.refresh('slots refreshed');

  constructor(private readonly connection: Cluster) {
    super();
  }

  forMaster(address: string): number | undefined {
    return this.perMaster.get(address);
  }

  protected async read(): Promise<number> {
    const node = this.connection.nodes('master')[0];
    if (!node) throw new Error('the cluster connection knows no master yet');
    this.perMaster = countClusterReplicas((await node.cluster('NODES')) as string);
    return [...this.perMaster.values()].reduce((sum, replicas) => sum + replicas, 0);
  }

  protected watch(): void {
    this.connection.on('refresh', this.onRefresh);
  }

  protected async unwatch(): Promise<void> {
    this.connection.off('refresh', this.onRefresh);
  }
}

/** `CLUSTER NODES` → `host:port` of each master → its replicas that count (see {@link ClusterReplicaTarget}). */
export function countClusterReplicas(nodes: string): Map<string, number> {
  const rows = nodes
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, master] = line.split(' ');
      return { id: id!, address: address!.split('@')[0]!, flags: flags!.split(','), master: master! };
    });
  const down = (flags: string[]) => flags.some((flag) => flag === 'fail' || flag === 'fail?' || flag === 'handshake' || flag === 'noaddr');
  const counts = new Map<string, number>();
  for (const row of rows) {
    if (!row.flags.includes('master') || down(row.flags)) continue;
    counts.set(
      row.address,
      rows.filter((replica) => replica.master === row.id && replica.flags.includes('slave') && !down(replica.flags)).length,
    );
  }
  return counts;
}

/** The target `config.waitReplicas` asks for; `connection` is the writer's own (plain `REDIS_URL`, or the cluster's). */
export function replicaTargetFor(config: Pick<QueuesConfig, 'waitReplicas' | 'sentinel'>, connection: RedisClient): ReplicaTarget {
  if (config.waitReplicas !== 'all') return new FixedReplicaTarget(config.waitReplicas);
  if (connection instanceof Cluster) return new ClusterReplicaTarget(connection);
  return config.sentinel ? new SentinelReplicaTarget(config.sentinel) : new MasterReplicaTarget(connection);
}

/** What every target of this process reports, for the apps' logs. */
export type ReplicaTargetReport =
  ({ kind: 'change' } & ReplicaTargetEvents['change'][0]) | { kind: 'readFailed'; error: string; kept: number | undefined };

const listeners = new Set<(report: ReplicaTargetReport) => void>();

/** The part of a pino logger {@link logReplicaTargets} writes to. */
export interface ReplicaTargetLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/**
 * Logs each change of the replicas `REDIS_WAIT_REPLICAS=all` waits for, and a read that failed
 * (once per failing streak); returns the function that stops logging.
 */
export function logReplicaTargets(log: ReplicaTargetLog): () => void {
  const listener = (report: ReplicaTargetReport) => {
    if (report.kind === 'change')
      log.info({ replicas: report.replicas, previous: report.previous, why: report.why }, 'REDIS_WAIT_REPLICAS=all: replicas to wait for');
    else
      log.warn(
        { error: report.error, kept: report.kept },
        'REDIS_WAIT_REPLICAS=all: cannot read the replicas to wait for (retrying); the last number stays',
      );
  };
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
