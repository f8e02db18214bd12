import type { QueuesConfig } from './config';
import { createRedisConnection } from './connection';

export interface Announcements {
  close(): Promise<void>;
}

export interface FollowOptions<Notice> {
  connectionName: string;
  channel: string;
  parse(message: string): Notice | undefined;
  onNotice(notice: Notice): void;
  /** Reads the state in force; called at every (re)connection, once subscribed. */
  catchUp(): Promise<void>;
  onError(error: unknown): void;
}

/**
 * Follows a channel of announcements (one connection per process) with the state they change:
 * at every (re)connection it subscribes first, then reads the state, so no announcement falls between
 * the two; those that arrive while the state is read are applied after it, which may predate them.
 */
export function followAnnouncements<Notice>(config: QueuesConfig, options: FollowOptions<Notice>): Announcements {
  const { channel, parse, onNotice, catchUp, onError } = options;
  const subscriber = createRedisConnection(config, 'worker', { connectionName: options.connectionName });
  let late: Notice[] | undefined;
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const notice = parse(message);
    if (notice === undefined) return;
    if (late) late.push(notice);
    else onNotice(notice);
  });
  subscriber.on('ready', () => {
    subscriber
      .subscribe(channel)
      .then(async () => {
        late ??= [];
        try {
          await catchUp();
        } finally {
          const arrived = late ?? [];
          late = undefined;
          for (const notice of arrived) onNotice(notice);
        }
      })
      .catch(onError);
  });
  return {
    close: async () => {
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
