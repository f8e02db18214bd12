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

  constructor(
    private readonly sentinel: SentinelConfig,
    private readonly onEmpty: () => void,
  ) {
    this.subscribers = sentinel.hosts.map(({ host, port }) => {
      const subscriber = new Redis({
        host,
        port,
        password: sentinel.password,
        connectionName: 'ceres-switch-watch',
        retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
        maxRetriesPerRequest: null,
      });
      subscriber.on('error', () => {
        /* a sentinel down is the others' job; ioredis keeps retrying this one */
      });
      subscriber.on('message', (_channel: string, message: string) => this.onSwitch(message));
      void subscriber.subscribe('+switch-master').catch(() => {});
      return subscriber;
    });
  }

  add(client: Redis): void {
    this.clients.add(client);
    client.once('end', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) {
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

/**
 * Makes `client`, and every connection duplicated from it (BullMQ duplicates a worker's connection
 * for its blocking fetch), follow a failover at once.
 */
export function followFailovers(client: Redis, sentinel: SentinelConfig): Redis {
  const key = `${sentinel.name}@${sentinel.hosts.map(({ host, port }) => `${host}:${port}`).join(',')}`;
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
