import { Redis } from 'ioredis';
import type { QueuesConfig } from './config';

type SentinelConfig = NonNullable<QueuesConfig['sentinel']>;

/**
 * Moves every connection of this process to the new master as soon as a sentinel announces
 * `+switch-master`, instead of when the old master next drops it (after a `SENTINEL FAILOVER` the
 * old master serves its clients until a sentinel demotes it, up to ~10 s later).
 *
 * ioredis' own `failoverDetector` does this per connection, but in ioredis 5.11 and 6.0 a
 * `+switch-master` that arrives while that connection asks a sentinel for the master ends the
 * connection for good ("Connection is closed", status `end`): after a SIGKILL of the master
 * every connection is reconnecting, so that happened. Here a connection is only told to
 * reconnect (`disconnect(true)`) once it is ready, never in the middle of a connect.
 */
class SwitchWatcher {
  private readonly clients = new Set<Redis>();
  private readonly subscribers: Redis[];
  private closed = false;
  /** Per sentinel (`host:port`): subscribed to `+switch-master`, or the error that stops it. */
  readonly states = new Map<string, { watching: boolean; error?: string }>();

  constructor(
    private readonly sentinel: SentinelConfig,
    private readonly onEmpty: () => void,
  ) {
    this.subscribers = sentinel.hosts.map(({ host, port }) => {
      const address = `${host}:${port}`;
      const subscriber = new Redis({
        host,
        port,
        username: sentinel.username,
        password: sentinel.password,
        connectionName: 'ceres-switch-watch',
        retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
        maxRetriesPerRequest: null,
      });
      // ioredis keeps retrying (and re-subscribes once back); a sentinel down is the others' job,
      // but it is reported, once per outage, so that nobody follows failovers unknowingly.
      subscriber.on('error', (error: Error) => this.report(address, { watching: false, error: error.message }));
      subscriber.on('close', () => {
        if (this.states.get(address)?.watching) this.report(address, { watching: false, error: 'connection closed' });
      });
      let subscribed = false;
      subscriber.on('ready', () => {
        // Ready again after a reconnect: ioredis re-subscribes (autoResubscribe) what it had.
        if (subscribed) this.report(address, { watching: true });
      });
      subscriber.on('message', (_channel: string, message: string) => this.onSwitch(message));
      subscriber.subscribe('+switch-master').then(
        () => {
          subscribed = true;
          this.report(address, { watching: true });
        },
        (error: Error) => this.report(address, { watching: false, error: error.message }),
      );
      return subscriber;
    });
  }

  /** `true` while at least one sentinel's announcements reach this process. */
  get watching(): boolean {
    return [...this.states.values()].some((state) => state.watching);
  }

  /** Records a change and tells the listeners; the same failure again (each retry) is not news. */
  private report(address: string, state: { watching: boolean; error?: string }): void {
    if (this.closed) return;
    const previous = this.states.get(address);
    if (previous && previous.watching === state.watching) return;
    this.states.set(address, state);
    const event: SentinelWatchEvent = {
      sentinel: address,
      watching: state.watching,
      ...(state.error === undefined ? {} : { error: state.error }),
    };
    for (const listener of listeners) listener(event);
  }

  add(client: Redis): void {
    this.clients.add(client);
    client.once('end', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) {
        // Closing on purpose: the subscribers' 'close' is no outage to report.
        this.closed = true;
        this.onEmpty();
        for (const subscriber of this.subscribers) subscriber.disconnect();
      }
    });
  }

  /** `<name> <old-ip> <old-port> <new-ip> <new-port>`, once from each sentinel. */
  private onSwitch(message: string): void {
    const [name, , , host, port] = message.split(' ');
    if (name !== this.sentinel.name || host === undefined || port === undefined) return;
    const master = { host, port: Number(port) };
    for (const client of this.clients) {
      if (client.status === 'ready') moveIfElsewhere(client, master);
      // Still connecting: it may have been told the old master just before the switch.
      else if (client.status !== 'end' && client.status !== 'wait') client.once('ready', () => moveIfElsewhere(client, master));
    }
  }
}

/**
 * Reconnects `client` (asking the sentinels again) unless it already talks to the new master. The
 * socket says where it is connected: a command would wait behind a worker's blocking fetch. A
 * master announced by host name never matches the socket's address: one needless reconnect.
 */
function moveIfElsewhere(client: Redis, master: { host: string; port: number }): void {
  if (client.status !== 'ready') return;
  const { remoteAddress, remotePort } = client.stream ?? {};
  if (remotePort !== master.port || remoteAddress?.replace(/^::ffff:/, '') !== master.host) client.disconnect(true);
}

const watchers = new Map<string, SwitchWatcher>();

/** A sentinel's `+switch-master` subscription started (`watching`) or stopped (`error` says why). */
export interface SentinelWatchEvent {
  /** `host:port` of the sentinel. */
  sentinel: string;
  watching: boolean;
  error?: string;
}

const listeners = new Set<(event: SentinelWatchEvent) => void>();

/**
 * Calls `listener` each time a sentinel's `+switch-master` subscription starts or stops, at once
 * for the current state of each (a failure at startup may predate the listener). The apps log
 * these. Returns the function that removes the listener.
 */
export function onSentinelWatch(listener: (event: SentinelWatchEvent) => void): () => void {
  listeners.add(listener);
  for (const watcher of watchers.values()) {
    for (const [sentinel, state] of watcher.states)
      listener({ sentinel, watching: state.watching, ...(state.error === undefined ? {} : { error: state.error }) });
  }
  return () => listeners.delete(listener);
}

/**
 * Whether this process hears failovers from at least one of `sentinel`'s sentinels; `undefined`
 * when it has no connection through them (nothing to follow).
 */
export function sentinelWatching(sentinel: SentinelConfig): boolean | undefined {
  return watchers.get(watcherKey(sentinel))?.watching;
}

/** One watcher per sentinel set and login (held in memory only, never logged). */
const watcherKey = (sentinel: SentinelConfig) =>
  JSON.stringify([
    sentinel.name,
    sentinel.hosts.map(({ host, port }) => `${host}:${port}`),
    sentinel.username ?? null,
    sentinel.password ?? null,
  ]);

/**
 * Makes `client`, and every connection duplicated from it (BullMQ duplicates a worker's connection
 * for its blocking fetch), follow a failover at once.
 */
export function followFailovers(client: Redis, sentinel: SentinelConfig): Redis {
  const key = watcherKey(sentinel);
  let watcher = watchers.get(key);
  if (!watcher) {
    watcher = new SwitchWatcher(sentinel, () => watchers.delete(key));
    watchers.set(key, watcher);
  }
  watcher.add(client);
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (override) => followFailovers(duplicate(override), sentinel);
  return client;
}

/** The part of a pino logger {@link logSentinelWatch} writes to. */
export interface SentinelWatchLog {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Logs each start and stop of a sentinel's failover announcements; returns the function that stops logging. */
export function logSentinelWatch(log: SentinelWatchLog): () => void {
  return onSentinelWatch((event) => {
    if (event.watching) log.info({ sentinel: event.sentinel }, 'following failovers: subscribed to +switch-master');
    else {
      log.error(
        { sentinel: event.sentinel, error: event.error },
        'not hearing failovers from this sentinel (retrying): a connection then moves to a new master only when the old one drops it',
      );
    }
  });
}
