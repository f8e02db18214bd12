import { Agent, request } from 'node:http';
import { sharedRedis, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApi, verify, type TestApi } from './helpers';

let redis: RedisPeer;
let api: TestApi;

beforeAll(async () => {
  redis = sharedRedis();
  api = await startApi(redis);
  await api.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api.close();
});

/** POSTs a verify job on `agent`'s kept-alive connection; resolves with the status and Connection header. */
function post(agent: Agent, port: number, userId: string): Promise<{ status: number; connection: string | undefined }> {
  const body = JSON.stringify(verify(userId));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/jobs/email/verify',
        method: 'POST',
        agent,
        headers: { ...auth(), 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('drain', () => {
  it('keeps connections alive normally, then answers with Connection: close and waits until clients have left', async () => {
    const port = (api.app.server.address() as { port: number }).port;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = await post(agent, port, 'd1');
    expect(before).toEqual({ status: 202, connection: 'keep-alive' });

    const draining = api.app.drain(5_000);
    const during = await post(agent, port, 'd2');
    expect(during).toEqual({ status: 202, connection: 'close' });
    const started = Date.now();
    await draining;
    // The client left after that response, so the drain ended well before its 5 s limit.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await api.countJobs()).toBe(2);
    agent.destroy();
  });
});
