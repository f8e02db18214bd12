import { createConnection, createServer, type Socket } from 'node:net';
import { once } from 'node:events';

/**
 * A TCP proxy on 127.0.0.1 to a target port, standing in for a peer that misbehaves on demand:
 * slow (`delayMs`), hung (`hold`), down (`refuse`).
 */
export interface TcpProxy {
  port: number;
  /** From now on nothing passes either way: connections (new ones too) stay open and silent, what is sent is kept. */
  hold(): void;
  /** Passes again: what was kept is delivered in order, then everything flows as before. */
  release(): void;
  /**
   * Closes the listening socket: new connections are refused (ECONNREFUSED). An open connection is
   * cut when its client next sends anything (not forwarded): a request already sent still gets its
   * answer (an SMTP transaction whose DATA the server has is not cut between its end and the 250),
   * and what is cut never reaches the server.
   */
  refuse(): Promise<void>;
  /** Listens again on the same port. */
  accept(): Promise<void>;
  close(): Promise<void>;
}

export interface TcpProxyOptions {
  /** Every chunk and close, both ways, arrives this much later. @defaultValue 0 */
  delayMs?: number;
}

export async function startTcpProxy(targetPort: number, { delayMs = 0 }: TcpProxyOptions = {}): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let held = false;
  let refusing = false;
  const pending: Array<() => void> = [];
  const pass = (step: () => void) => {
    if (held) pending.push(step);
    else if (delayMs > 0) setTimeout(step, delayMs);
    else step();
  };
  const relay = (from: Socket, to: Socket, fromClient: boolean) => {
    from.on('data', (chunk: Buffer) => {
      if (fromClient && refusing) {
        from.destroy();
        to.destroy();
      } else pass(() => to.destroyed || to.write(chunk));
    });
    from.on('close', () => pass(() => to.destroy()));
  };
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    track(client);
    track(upstream);
    relay(client, upstream, true);
    relay(upstream, client, false);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const stopListening = async () => {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const step of pending.splice(0)) step();
    },
    async refuse() {
      refusing = true;
      await stopListening();
    },
    async accept() {
      refusing = false;
      if (server.listening) return;
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    async close() {
      const closed = stopListening();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
