import { createConnection, createServer, type Socket } from 'node:net';
import { once } from 'node:events';

export interface TcpGate {
  port: number;
  /** From now on nothing passes either way: connections (new ones too) stay open and silent, what is sent is kept. */
  hold(): void;
  /** Passes again: what was kept is delivered in order, then everything flows as before. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 to `targetPort` that can stop answering without closing anything: a
 * relay that hangs (a stopped process, a full disk) and later resumes.
 */
export async function startTcpGate(targetPort: number): Promise<TcpGate> {
  const sockets = new Set<Socket>();
  let held = false;
  const pending: Array<() => void> = [];
  const relay = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => {
      const write = () => to.destroyed || to.write(chunk);
      if (held) pending.push(write);
      else write();
    });
    from.on('close', () => (held ? pending.push(() => to.destroy()) : to.destroy()));
    from.on('error', () => {});
  };
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) sockets.add(socket);
    relay(client, upstream);
    relay(upstream, client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
      for (const write of pending.splice(0)) write();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
