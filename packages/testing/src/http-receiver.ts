import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from './wait-for';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON, or the raw text when it is not JSON. */
  body: unknown;
  at: number;
  /** The status it was answered. */
  status: number;
}

export interface HttpReceiver {
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: ReceivedRequest[];
  /**
   * The status every following request gets, with extra response headers (e.g. `retry-after`);
   * with `forMs`, only for that long, then 200 again. @defaultValue 200
   */
  setStatus(status: number, options?: { headers?: Record<string, string>; forMs?: number }): void;
  /** Delay before answering, to provoke client timeouts. @defaultValue 0 */
  setDelay(ms: number): void;
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 recording the requests it gets (a stand-in webhook). */
export async function startHttpReceiver(): Promise<HttpReceiver> {
  let status = 200;
  let headers: Record<string, string> = {};
  let until = Infinity;
  let delay = 0;
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        /* keep the raw text */
      }
      const inWindow = Date.now() < until;
      const answer = inWindow ? status : 200;
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, at: Date.now(), status: answer });
      const extra = inWindow ? headers : {};
      setTimeout(() => {
        res.writeHead(answer, { 'content-type': 'text/plain', ...extra });
        res.end(answer < 300 ? 'ok' : 'error');
      }, delay);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    setStatus(next, options = {}) {
      status = next;
      headers = options.headers ?? {};
      until = options.forMs === undefined ? Infinity : Date.now() + options.forMs;
    },
    setDelay(ms) {
      delay = ms;
    },
    async waitForRequests(count, timeoutMs = 10_000) {
      await waitFor(() => requests.length >= count, { timeoutMs, what: `${count} request(s) at the HTTP receiver` });
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
