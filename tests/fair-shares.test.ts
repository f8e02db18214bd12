// Issue 26, item 4, measured end to end: one worker process at default settings, tenant A enqueues
// 2,000 email/welcome through the batch route, then tenant B enqueues 5. B's mails must not wait
// for A's backlog. Asserted on order and counts (what the scheduler promises); the times are
// reported, not asserted (they depend on the machine).
import { randomUUID } from 'node:crypto';
import { apiTokenHash, newApiToken, parseKeyring, registry } from '@ceres/queues';
import { TEST_ENCRYPTION_KEYS, waitFor } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApi, type TestApi } from '../apps/api/tests/helpers';
import { spawnWorker, useTestBed, workerEnv } from '../apps/worker/tests/helpers/harness';

const bed = useTestBed();
const keyring = parseKeyring(TEST_ENCRYPTION_KEYS);
let api: TestApi;
let prefix: string;

async function tokenOf(tenant: string): Promise<string> {
  await bed.db.tenants.add(tenant, { name: `Tenant ${tenant}` });
  const token = newApiToken();
  await bed.db.apiTokens.insert({
    id: `tok-${randomUUID().slice(0, 8)}`,
    tenantId: tenant,
    name: null,
    keyVersion: keyring.current.version,
    tokenHash: apiTokenHash(keyring.current, token),
  });
  return token;
}

const welcomes = (tenant: string, from: number, count: number) =>
  Array.from({ length: count }, (_, n) => ({
    userId: `${tenant}-${from + n}`,
    email: `${tenant}-${from + n}@example.com`,
    firstName: 'F',
  }));

let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  tokenA = await tokenOf('town-a');
  tokenB = await tokenOf('town-b');
  prefix = `fair${randomUUID().slice(0, 6)}:`;
  api = await startApi(bed.peers.redis, { DATABASE_URL: bed.peers.postgres.url, REDIS_PREFIX: prefix });
}, 60_000);

afterAll(async () => {
  await api?.close();
});

describe('fair shares: a backlog of one tenant and the first jobs of another', () => {
  it("B's five mails go out among A's first ones, not after A's 2,000", async () => {
    const worker = spawnWorker(workerEnv(bed.peers, { REDIS_PREFIX: prefix }));
    bed.children.push(worker);
    await worker.ready;
    const batch = (token: string, items: unknown[]) =>
      api.app.inject({ method: 'POST', url: '/jobs/email/welcome/batch', headers: auth(token), payload: { items } });
    for (const from of [0, 1000]) {
      const response = await batch(tokenA, welcomes('town-a', from, 1000));
      expect(response.statusCode, response.body).toBe(202);
    }
    const enqueuedB = Date.now();
    const responseB = await batch(tokenB, welcomes('town-b', 0, 5));
    expect(responseB.statusCode, responseB.body).toBe(202);
    const email = api.queues.getQueue('email');
    const waitingAtB = await email.getPrioritizedCount();

    const sink = bed.peers.smtp;
    const fromB = () => sink.messages.filter((mail) => mail.envelope.to[0]!.startsWith('town-b-'));
    await waitFor(() => fromB().length === 5, { timeoutMs: 30_000, intervalMs: 20, what: "B's five mails" });
    const lastB = Math.max(...fromB().map((mail) => mail.receivedAt));
    const aBefore = sink.messages.filter((mail) => mail.envelope.to[0]!.startsWith('town-a-') && mail.receivedAt <= lastB).length;
    const aBeforeB = sink.messages.filter((mail) => mail.envelope.to[0]!.startsWith('town-a-') && mail.receivedAt <= enqueuedB).length;
    const waitingAfterB = await email.getPrioritizedCount();
    console.info(
      `fair shares: B's 5 mails all delivered ${lastB - enqueuedB} ms after B's enqueue; ` +
        `A had ${aBeforeB} delivered at B's enqueue and ${aBefore} when B's last arrived; ${waitingAtB} jobs waited at B's enqueue, ${waitingAfterB} after`,
    );
    // Counts: A's backlog was still there, more than 1,000 of A's jobs not yet delivered.
    expect(2000 - aBefore).toBeGreaterThan(1000);
    // Order: while B's five went out, A got about one turn per B job (plus the jobs already running,
    // up to the queue's concurrency), not the rest of its backlog.
    expect(aBefore - aBeforeB).toBeLessThanOrEqual(5 + 2 * registry.email.concurrency);
  }, 120_000);
});
