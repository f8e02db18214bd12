import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export interface SwitchProxy {
  port: number;
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

/** A TCP proxy on 127.0.0.1 to `targetPort` that can be switched off and on: a peer that goes down and comes back. */
export async function startSwitchProxy(targetPort: number): Promise<SwitchProxy> {
  const sockets = new Set<Socket>();
  let refusing = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    track(client);
    track(upstream);
    client.on('data', (chunk: Buffer) => {
      if (refusing) {
        client.destroy();
        upstream.destroy();
      } else if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const stopListening = async () => {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port,
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
